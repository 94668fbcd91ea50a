#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static int apply_rlimit(const struct airlock_rlimit *limit) {
    struct rlimit current;
    if (getrlimit(limit->resource, &current) != 0) return -errno;
    // Without CAP_SYS_RESOURCE a hard limit can only go down: clamp instead of failing when the policy asks for more.
    rlim_t value = (rlim_t)limit->value;
    if (current.rlim_max != RLIM_INFINITY && value > current.rlim_max) value = current.rlim_max;
    struct rlimit next = {.rlim_cur = value, .rlim_max = value};
    return setrlimit(limit->resource, &next) == 0 ? 0 : -errno;
}

void airlock_confine(const struct airlock_sandbox_spec *spec, int report_fd) {
    for (int i = 0; i < spec->rlimit_count; i++) {
        int rc = apply_rlimit(&spec->rlimits[i]);
        if (rc == 0 && airlock_injected(spec, AIRLOCK_STAGE_RLIMIT)) rc = -airlock_injected(spec, AIRLOCK_STAGE_RLIMIT);
        if (rc != 0) airlock_fail(report_fd, AIRLOCK_STAGE_RLIMIT, -rc, i);
    }
    int err = airlock_injected(spec, AIRLOCK_STAGE_NO_NEW_PRIVS);
    if (err == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) err = errno;
    if (err != 0) airlock_fail(report_fd, AIRLOCK_STAGE_NO_NEW_PRIVS, err, 0);

    // Set after the credential change, which clears the parent-death signal (prctl(2), PR_SET_PDEATHSIG); the
    // getppid check closes the race where the supervisor died just before.
    pid_t parent = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) airlock_fail(report_fd, AIRLOCK_STAGE_PDEATHSIG, errno, 0);
    if (getppid() != parent) _exit(126);

    // A new session has no controlling terminal, so TIOCSTI cannot push keystrokes into the caller's shell
    // (CVE-2017-5226, the bubblewrap TIOCSTI escape).
    err = airlock_injected(spec, AIRLOCK_STAGE_SETSID);
    if (err == 0 && setsid() < 0) err = errno;
    if (err != 0) airlock_fail(report_fd, AIRLOCK_STAGE_SETSID, err, 0);
    // The session's controlling terminal is the worker's own pty (never the operator's), so Ctrl-C relayed as a
    // byte becomes its SIGINT and /dev/tty is that pty.
    if (spec->terminal_fd >= 0) {
        int fd = (spec->terminal_mask & 1) ? 0 : (spec->terminal_mask & 2) ? 1 : 2;
        if (ioctl(fd, TIOCSCTTY, 0) != 0) airlock_fail(report_fd, AIRLOCK_STAGE_SETSID, errno, 1);
    }
}
