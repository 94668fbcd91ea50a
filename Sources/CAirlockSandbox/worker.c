#include "internal.h"

#include <errno.h>
#include <unistd.h>

// The order is the design's: identity and capabilities, then no_new_privs / parent-death signal / session,
// then Landlock (which needs no_new_privs without CAP_SYS_ADMIN), then seccomp last so the filter does not have
// to allow any of the setup syscalls, then execve.
void airlock_worker_main(const struct airlock_sandbox_spec *spec, int report_fd) {
    airlock_drop_privileges(spec, report_fd);
    airlock_confine(spec, report_fd);
    int err = airlock_injected(spec, AIRLOCK_STAGE_CHDIR);
    if (err == 0 && chdir(spec->workdir) != 0) err = errno;
    if (err != 0) airlock_fail(report_fd, AIRLOCK_STAGE_CHDIR, err, 0);
    airlock_apply_landlock(spec, report_fd);
    airlock_apply_seccomp(spec, report_fd);
    err = airlock_injected(spec, AIRLOCK_STAGE_EXECVE);
    if (err == 0) {
        execve(spec->exec_path, spec->argv, spec->envp);
        err = errno;
    }
    airlock_fail(report_fd, AIRLOCK_STAGE_EXECVE, err, 0);
}
