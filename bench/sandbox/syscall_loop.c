// Syscall-heavy loops for the seccomp cost benchmark. "getppid" is the worst case: the cheapest syscall, so the
// fixed cost of the seccomp entry path dominates. "files" is what agent tooling does all day: stat, open, read,
// close of a small file and a write to /dev/null.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "getppid";
    long n = argc > 2 ? atol(argv[2]) : (strcmp(mode, "files") == 0 ? 500000 : 5000000);
    long syscalls_per_iteration = 1;
    char buffer[256];
    int sink = open("/dev/null", O_WRONLY);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (strcmp(mode, "files") == 0) {
        syscalls_per_iteration = 5;
        for (long i = 0; i < n; i++) {
            struct stat st;
            stat("/etc/hostname", &st);
            int fd = open("/etc/hostname", O_RDONLY);
            ssize_t got = read(fd, buffer, sizeof(buffer));
            close(fd);
            if (write(sink, buffer, got > 0 ? (size_t)got : 1) < 0) return 1;
        }
    } else {
        for (long i = 0; i < n; i++) syscall(SYS_getppid);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.2f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / (double)(n * syscalls_per_iteration));
    return 0;
}
