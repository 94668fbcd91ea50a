#include "CAirlockSandbox.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

static volatile sig_atomic_t forward_target = 0;

static void relay(int sig) {
    int saved = errno;
    pid_t target = (pid_t)forward_target;
    if (target > 0) kill(target, sig);
    errno = saved;
}

void airlock_forward_signals(pid_t supervisor) {
    static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
    forward_target = supervisor;
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    // SA_RESTART: the launcher's blocking recvmsg/waitpid continue after a relayed signal.
    action.sa_handler = supervisor > 0 ? relay : SIG_DFL;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++) sigaction(forwarded[i], &action, NULL);
}
