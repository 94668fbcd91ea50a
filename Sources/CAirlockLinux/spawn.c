#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <fcntl.h>
#include <unistd.h>

#include "CAirlockLinux.h"

int airlock_spawn_piped(const char *path, char *const argv[], char *const envp[], int in, int out, int err,
                        int32_t *pid) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return -rc;
    rc = posix_spawnattr_init(&attributes);
    if (rc != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return -rc;
    }
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    int reset[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2};
    for (unsigned i = 0; i < sizeof reset / sizeof reset[0]; i++) sigaddset(&defaults, reset[i]);
    if ((rc = posix_spawn_file_actions_adddup2(&actions, in, 0)) == 0
        && (rc = posix_spawn_file_actions_adddup2(&actions, out, 1)) == 0
        && (rc = posix_spawn_file_actions_adddup2(&actions, err, 2)) == 0
        && (rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3)) == 0
        && (rc = posix_spawnattr_setsigmask(&attributes, &none)) == 0
        && (rc = posix_spawnattr_setsigdefault(&attributes, &defaults)) == 0
        && (rc = posix_spawnattr_setpgroup(&attributes, 0)) == 0
        && (rc = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
                                                           | POSIX_SPAWN_SETPGROUP)) == 0) {
        pid_t child = 0;
        rc = posix_spawn(&child, path, &actions, &attributes, argv, envp);
        if (rc == 0) *pid = child;
    }
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return -rc;
}

int airlock_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno;
}
