#ifndef AIRLOCK_SANDBOX_INTERNAL_H
#define AIRLOCK_SANDBOX_INTERNAL_H

#include "CAirlockSandbox.h"

#include <stddef.h>

// Everything declared here runs in a child of a multi-threaded process between fork and execve:
// only async-signal-safe calls (raw syscalls), no malloc, no stdio, no locks.

/// Writes (stage, errno, detail) to the report pipe and exits the child.
__attribute__((noreturn)) void airlock_fail(int report_fd, int stage, int error, int detail);

/// Returns the injected errno when the spec asks this stage to fail, else 0.
int airlock_injected(const struct airlock_sandbox_spec *spec, int stage);

/// Copies a + b into buf; returns -ENAMETOOLONG if it does not fit.
int airlock_join(char *buf, size_t size, const char *a, const char *b);

/// Sends/receives a small message with file descriptors over a SOCK_SEQPACKET socket.
int airlock_send_message(int sock, char tag, const void *payload, size_t len, const int *fds, int nfds);
ssize_t airlock_recv_message(int sock, char *tag, void *payload, size_t cap, int *fds, int max_fds, int *nfds);

/// Relays `signals` to `target` from a signal handler (SA_RESTART); `target` 0 restores their default
/// dispositions. The launcher relays to the supervisor (airlock_forward_signals), the supervisor to the worker.
void airlock_relay_signals(pid_t target, const int *signals, int count);

/// Builds the sandbox's filesystem view and pivots into it (supervisor, before the worker forks).
void airlock_setup_mounts(const struct airlock_sandbox_spec *spec, int report_fd);

/// Brings up lo and binds the listeners inside the new network namespace.
void airlock_setup_network(const struct airlock_sandbox_spec *spec, int report_fd, int *fds);

/// Worker: identity, capabilities and securebits.
void airlock_drop_privileges(const struct airlock_sandbox_spec *spec, int report_fd);

/// Worker: rlimits, no_new_privs, parent-death signal, new session.
void airlock_confine(const struct airlock_sandbox_spec *spec, int report_fd);

/// Worker: Landlock ruleset up to the ABI the parent found.
void airlock_apply_landlock(const struct airlock_sandbox_spec *spec, int report_fd);

/// Worker: the seccomp program compiled by the parent; must be the last step before execve.
void airlock_apply_seccomp(const struct airlock_sandbox_spec *spec, int report_fd);

/// Worker entry point; never returns.
__attribute__((noreturn)) void airlock_worker_main(const struct airlock_sandbox_spec *spec, int report_fd);

#endif
