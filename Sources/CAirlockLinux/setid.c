#include "CAirlockLinux.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint32_t target_uid;
static uint32_t target_gid;
static atomic_int acknowledged_tid;
static atomic_int handler_error;

static int raw_setid(void) {
    gid_t groups[1] = {target_gid};
    if (syscall(SYS_setgroups, 1, groups) != 0) return -errno;
    if (syscall(SYS_setresgid, target_gid, target_gid, target_gid) != 0) return -errno;
    if (syscall(SYS_setresuid, target_uid, target_uid, target_uid) != 0) return -errno;
    return 0;
}

// Runs on the signalled thread; only async-signal-safe calls (raw syscalls, atomics).
static void setid_handler(int sig) {
    (void)sig;
    int saved = errno;
    int rc = raw_setid();
    if (rc != 0) atomic_store(&handler_error, rc);
    atomic_store(&acknowledged_tid, (int)syscall(SYS_gettid));
    errno = saved;
}

static int read_ids(const char *path, const char *field, unsigned long out[4]) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return -EIO;
    buf[n] = 0;
    char *line = strstr(buf, field);
    if (line == NULL) return -EIO;
    if (sscanf(line + strlen(field), "%lu %lu %lu %lu", &out[0], &out[1], &out[2], &out[3]) != 4) return -EIO;
    return 0;
}

static int thread_matches(pid_t tid) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
    unsigned long uids[4], gids[4];
    int rc = read_ids(path, "\nUid:", uids);
    if (rc == -ENOENT) return 1;  // the thread has exited
    if (rc != 0) return rc;
    rc = read_ids(path, "\nGid:", gids);
    if (rc == -ENOENT) return 1;
    if (rc != 0) return rc;
    for (int i = 0; i < 4; i++) {
        if (uids[i] != target_uid || gids[i] != target_gid) return 0;
    }
    return 1;
}

static void sleep_ms(long ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int airlock_setid_all_threads(uint32_t uid, uint32_t gid) {
    target_uid = uid;
    target_gid = gid;
    atomic_store(&handler_error, 0);

    // glibc reaches every live thread (it reserves a signal no thread can block) and the caller.
    gid_t groups[1] = {gid};
    if (setgroups(1, groups) != 0) return -errno;
    if (setresgid(gid, gid, gid) != 0) return -errno;
    if (setresuid(uid, uid, uid) != 0) return -errno;

    // Whatever glibc skipped (a thread inside pthread_exit) is signalled to make the calls itself.
    int sig = SIGRTMAX - 1;
    struct sigaction action, previous;
    memset(&action, 0, sizeof(action));
    action.sa_handler = setid_handler;
    action.sa_flags = SA_RESTART;
    sigfillset(&action.sa_mask);
    if (sigaction(sig, &action, &previous) != 0) return -errno;
    pid_t pid = getpid();
    int result = 0;
    DIR *dir = opendir("/proc/self/task");
    if (dir == NULL) {
        result = -errno;
    } else {
        struct dirent *entry;
        while (result == 0 && (entry = readdir(dir)) != NULL) {
            pid_t tid = (pid_t)atoi(entry->d_name);
            if (tid <= 0) continue;
            int ok = thread_matches(tid);
            if (ok < 0) {
                result = ok;
                break;
            }
            if (ok == 1) continue;
            atomic_store(&acknowledged_tid, 0);
            if (syscall(SYS_tgkill, pid, tid, sig) != 0) {
                if (errno != ESRCH) result = -errno;
                continue;
            }
            for (int waited = 0; atomic_load(&acknowledged_tid) != tid && waited < 2000; waited++) {
                sleep_ms(1);
            }
            if (atomic_load(&acknowledged_tid) != tid) result = -EAGAIN;
        }
        closedir(dir);
    }
    sigaction(sig, &previous, NULL);
    if (result == 0) result = atomic_load(&handler_error);
    if (result != 0) return result;

    dir = opendir("/proc/self/task");
    if (dir == NULL) return -errno;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        pid_t tid = (pid_t)atoi(entry->d_name);
        if (tid <= 0) continue;
        int ok = thread_matches(tid);
        if (ok != 1) {
            closedir(dir);
            return ok < 0 ? ok : -EPERM;
        }
    }
    closedir(dir);
    return 0;
}
