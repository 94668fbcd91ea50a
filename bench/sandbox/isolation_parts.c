// Applies one isolation mechanism at a time, then execs a command: which part of the sandbox costs a syscall what.
//   isolation_parts PARTS WORKDIR -- COMMAND ARGS...
// PARTS is a comma-separated list of
//   none          nothing
//   namespaces    new mount and pid namespaces (as the sandbox's; the root view itself is not rebuilt)
//   landlock      the launcher's ruleset: / read-only, /dev devices, WORKDIR, /tmp and /dev/shm writable
//   seccomp-allow a filter that allows every syscall: the fixed cost of having any filter
//   seccomp=FILE  a raw BPF program (struct sock_filter[]), e.g. agent-strict as the launcher compiled it
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct ruleset_attr {
    uint64_t handled_access_fs, handled_access_net, scoped;
};
struct path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

static void die(const char *what) {
    perror(what);
    exit(125);
}

static void add_rule(int ruleset, const char *path, uint64_t access) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) access &= (1 | 2 | 4 | (1ULL << 14) | (1ULL << 15));
    struct path_beneath_attr rule = {.allowed_access = access, .parent_fd = fd};
    if (syscall(SYS_landlock_add_rule, ruleset, 1, &rule, 0) != 0) die("landlock_add_rule");
    close(fd);
}

// The same rights LandlockPlan gives (Sources/AirlockSandbox/Landlock/LandlockPlan.swift), for ABI 5 and later.
static void apply_landlock(const char *workdir) {
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1);
    if (abi < 5) {
        fprintf(stderr, "Landlock ABI %ld; this harness wants 5 or later\n", abi);
        exit(125);
    }
    uint64_t fs = (1ULL << 16) - 1, read_only = 1 | 4 | 8;
    uint64_t writable = fs & ~((1ULL << 6) | (1ULL << 11));
    struct ruleset_attr attr = {.handled_access_fs = fs, .handled_access_net = 3, .scoped = abi >= 6 ? 3 : 0};
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
    if (ruleset < 0) die("landlock_create_ruleset");
    add_rule(ruleset, "/", read_only);
    add_rule(ruleset, "/dev", read_only | 2 | (1ULL << 14) | (1ULL << 15));
    add_rule(ruleset, workdir, writable);
    add_rule(ruleset, "/tmp", writable);
    add_rule(ruleset, "/dev/shm", writable);
    if (syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) die("landlock_restrict_self");
}

static void apply_seccomp(struct sock_filter *filter, unsigned short length) {
    struct sock_fprog program = {.len = length, .filter = filter};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0) die("seccomp");
}

int main(int argc, char **argv) {
    if (argc < 5 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "usage: isolation_parts PARTS WORKDIR -- COMMAND ARGS...\n");
        return 2;
    }
    const char *workdir = argv[2];
    char *parts = strdup(argv[1]);
    int namespaces = strstr(argv[1], "namespaces") != NULL;
    if (namespaces) {
        if (unshare(CLONE_NEWNS | CLONE_NEWPID) != 0) die("unshare");
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("mount");
        pid_t child = fork();
        if (child < 0) die("fork");
        if (child > 0) {
            int status = 0;
            waitpid(child, &status, 0);
            return WIFEXITED(status) ? WEXITSTATUS(status) : 125;
        }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("no_new_privs");
    for (char *part = strtok(parts, ","); part != NULL; part = strtok(NULL, ",")) {
        if (strcmp(part, "landlock") == 0) {
            apply_landlock(workdir);
        } else if (strcmp(part, "seccomp-allow") == 0) {
            struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
            apply_seccomp(allow, 1);
        } else if (strncmp(part, "seccomp=", 8) == 0) {
            int fd = open(part + 8, O_RDONLY | O_CLOEXEC);
            struct stat st;
            if (fd < 0 || fstat(fd, &st) != 0) die(part + 8);
            struct sock_filter *filter = malloc((size_t)st.st_size);
            if (read(fd, filter, (size_t)st.st_size) != st.st_size) die("read");
            close(fd);
            apply_seccomp(filter, (unsigned short)(st.st_size / 8));
        } else if (strcmp(part, "none") != 0 && strcmp(part, "namespaces") != 0) {
            fprintf(stderr, "unknown part %s\n", part);
            return 2;
        }
    }
    execv(argv[4], argv + 4);
    die(argv[4]);
}
