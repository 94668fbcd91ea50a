// fdatasync latency probe: appends N blocks of BS bytes to a new file, each followed by fdatasync, and reports
// the latency distribution of (pwrite + fdatasync). Also reports the cost of the pwrite alone.
//
//     cc -O2 -o /tmp/fdatasync_probe bench/receipts/probe/fdatasync_probe.c
//     /tmp/fdatasync_probe DIR [N=2000] [BS=4096]
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s DIR [N] [BS]\n", argv[0]); return 2; }
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    int bs = argc > 3 ? atoi(argv[3]) : 4096;
    char path[4096];
    snprintf(path, sizeof path, "%s/fdatasync-probe.%d", argv[1], getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror("open"); return 1; }
    char *buf = malloc(bs);
    memset(buf, 'x', bs);
    double *lat = malloc(sizeof(double) * n), *wr = malloc(sizeof(double) * n);
    off_t off = 0;
    for (int i = 0; i < 20; i++) { pwrite(fd, buf, bs, off); off += bs; fdatasync(fd); }  // warm-up
    double start = now_us();
    for (int i = 0; i < n; i++) {
        double t0 = now_us();
        if (pwrite(fd, buf, bs, off) != bs) { perror("pwrite"); return 1; }
        double t1 = now_us();
        if (fdatasync(fd) != 0) { perror("fdatasync"); return 1; }
        double t2 = now_us();
        off += bs;
        wr[i] = t1 - t0;
        lat[i] = t2 - t0;
    }
    double total = now_us() - start;
    qsort(lat, n, sizeof(double), cmp);
    qsort(wr, n, sizeof(double), cmp);
    printf("append %d B + fdatasync, n=%d: p50 %.1f us  p90 %.1f us  p99 %.1f us  max %.1f us  mean %.1f us  (%.0f syncs/s); pwrite alone p50 %.1f us\n",
        bs, n, lat[n / 2], lat[n * 9 / 10], lat[n * 99 / 100], lat[n - 1], total / n, n / (total / 1e6), wr[n / 2]);
    close(fd);
    unlink(path);
    return 0;
}
