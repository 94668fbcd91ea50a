#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

static volatile sig_atomic_t relay_target = 0;

static void relay(int sig) {
    int saved = errno;
    pid_t target = (pid_t)relay_target;
    if (target > 0) kill(target, sig);
    errno = saved;
}

void airlock_relay_signals(pid_t target, const int *signals, int count) {
    relay_target = target;
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    // SA_RESTART: the launcher's blocking recvmsg/waitpid and the supervisor's waitpid continue after a relayed
    // signal.
    action.sa_handler = target > 0 ? relay : SIG_DFL;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < count; i++) sigaction(signals[i], &action, NULL);
}

void airlock_forward_signals(pid_t supervisor) {
    static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
    airlock_relay_signals(supervisor, forwarded, (int)(sizeof(forwarded) / sizeof(forwarded[0])));
}
