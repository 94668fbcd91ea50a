#include "internal.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

void airlock_apply_seccomp(const struct airlock_sandbox_spec *spec, int report_fd) {
    if (spec->seccomp_filter == NULL || spec->seccomp_filter_len == 0) return;
    struct sock_fprog prog = {
        .len = spec->seccomp_filter_len,
        .filter = (struct sock_filter *)spec->seccomp_filter,
    };
    int err = airlock_injected(spec, AIRLOCK_STAGE_SECCOMP);
    if (err == 0 && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, spec->seccomp_flags, &prog) != 0) {
        err = errno;
        // seccomp(2) arrived in 3.17; the prctl form takes no flags.
        if (err == ENOSYS && spec->seccomp_flags == 0) {
            err = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0 ? 0 : errno;
        }
    }
    if (err != 0) airlock_fail(report_fd, AIRLOCK_STAGE_SECCOMP, err, 0);
}
