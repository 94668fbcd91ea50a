#include "CAirlockSandbox.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// Asking the kernel is the only reliable test: sysctls (user.max_user_namespaces, Debian's
// kernel.unprivileged_userns_clone, AppArmor's restrict_unprivileged_userns) differ between distributions.
int airlock_userns_available(void) {
    pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)(CLONE_NEWUSER | SIGCHLD), 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid < 0) return 0;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int airlock_memfd(const char *name) {
    return memfd_create(name, MFD_CLOEXEC);
}
