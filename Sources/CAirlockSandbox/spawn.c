#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// Closes every descriptor from 3 up except `a` and `b`. The supervisor outlives nothing it needs from the
// parent but its two channels; holding the parent's other descriptors would keep them open (sockets not
// closed for their peers, pipes without EOF) for as long as the sandbox runs.
static void close_inherited(int a, int b) {
    int low = a < b ? a : b;
    int high = a < b ? b : a;
    unsigned int ranges[3][2] = {
        {3U, (unsigned int)low - 1U}, {(unsigned int)low + 1U, (unsigned int)high - 1U}, {(unsigned int)high + 1U, ~0U}};
    for (int i = 0; i < 3; i++) {
        if (ranges[i][0] > ranges[i][1] || ranges[i][0] < 3U) continue;
        if (syscall(SYS_close_range, ranges[i][0], ranges[i][1], 0U) == 0) continue;
        // Kernels before 5.9: one close per descriptor, up to the descriptor limit.
        long limit = sysconf(_SC_OPEN_MAX);
        unsigned int last = ranges[i][1];
        if (limit > 0 && (unsigned long)limit - 1UL < last) last = (unsigned int)(limit - 1);
        for (unsigned int fd = ranges[i][0]; fd <= last && fd < (1U << 20); fd++) close((int)fd);
    }
}

static int reset_signals(void) {
    sigset_t all;
    sigemptyset(&all);
    if (sigprocmask(SIG_SETMASK, &all, NULL) != 0) return -errno;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    // Ignored dispositions (and the signal mask) survive execve, and the launcher may have been started with some
    // ignored: nohup ignores SIGHUP, a shell ignores SIGINT and SIGQUIT for a background job. The launcher's own
    // relay handlers are installed only after this clone, and handlers do not survive execve anyway.
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        sigaction(sig, &dfl, NULL);
    }
    return 0;
}

static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int err = n < 0 ? errno : 0;
    close(fd);
    if (err != 0) return -err;
    return (size_t)n == len ? 0 : -EIO;
}

static size_t append_decimal(char *buf, size_t at, uint32_t v) {
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0) buf[at++] = tmp[--n];
    return at;
}

static void format_id_map(char *buf, uint32_t inner, uint32_t outer) {
    size_t at = append_decimal(buf, 0, inner);
    buf[at++] = ' ';
    at = append_decimal(buf, at, outer);
    memcpy(buf + at, " 1\n", 4);
}

// A process may map only its own outer ids into a new user namespace, after denying setgroups
// (user_namespaces(7), "Writing 'deny' to /proc/[pid]/setgroups").
static void write_id_maps(const struct airlock_sandbox_spec *spec, int report_fd) {
    char line[48];
    int rc = write_file("/proc/self/setgroups", "deny");
    if (rc == 0) {
        format_id_map(line, spec->uid, spec->outer_uid);
        rc = write_file("/proc/self/uid_map", line);
    }
    if (rc == 0) {
        format_id_map(line, spec->gid, spec->outer_gid);
        rc = write_file("/proc/self/gid_map", line);
    }
    if (rc != 0) airlock_fail(report_fd, AIRLOCK_STAGE_USERNS_MAP, -rc, 0);
}

// The supervisor is PID 1 of the new pid namespace: signals from the parent's namespace reach it only if it has a
// handler (pid_namespaces(7)), so it installs one that relays to the worker.
static void supervise(pid_t worker, int control_fd) {
    static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    airlock_relay_signals(worker, forwarded, (int)(sizeof(forwarded) / sizeof(forwarded[0])));
    for (;;) {
        int status = 0;
        pid_t pid = waitpid(-1, &status, __WALL);
        if (pid < 0) {
            if (errno == EINTR) continue;
            _exit(125);
        }
        if (pid == worker) {
            int32_t wire = status;
            airlock_send_message(control_fd, 'S', &wire, sizeof(wire), NULL, 0);
            // Exiting as PID 1 makes the kernel SIGKILL everything the worker left behind in the namespace.
            _exit(0);
        }
    }
}

__attribute__((noreturn)) static void supervisor_main(const struct airlock_sandbox_spec *spec, int report_fd,
                                                      int control_fd) {
    if (reset_signals() != 0) airlock_fail(report_fd, AIRLOCK_STAGE_SIGNALS, errno, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    // The worker's own pseudo-terminal replaces the standard descriptors that were the operator's terminal.
    if (spec->terminal_fd >= 0) {
        for (int fd = 0; fd < 3; fd++) {
            if ((spec->terminal_mask & (1 << fd)) && dup2(spec->terminal_fd, fd) < 0) _exit(126);
        }
    }
    // Nothing the parent had open may reach the worker, nor stay open in the supervisor.
    close_inherited(report_fd, control_fd);
    if (spec->flags & AIRLOCK_SPEC_USERNS) write_id_maps(spec, report_fd);
    if (spec->flags & AIRLOCK_SPEC_MOUNTNS) airlock_setup_mounts(spec, report_fd);

    int listeners[8];
    int count = 0;
    if (spec->flags & AIRLOCK_SPEC_NETNS) {
        airlock_setup_network(spec, report_fd, listeners);
        count = spec->listen_count;
    }
    int rc = airlock_send_message(control_fd, 'L', NULL, 0, listeners, count);
    if (rc != 0) airlock_fail(report_fd, AIRLOCK_STAGE_SEND_LISTENERS, -rc, 0);
    for (int i = 0; i < count; i++) close(listeners[i]);

    // The parent registers the listeners with the router before the worker may run.
    char tag = 0;
    char unused[4];
    ssize_t n = airlock_recv_message(control_fd, &tag, unused, sizeof(unused), NULL, 0, NULL);
    if (n <= 0 || tag != 'G') _exit(126);

    pid_t worker = (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, 0, 0, 0, 0);
    if (worker < 0) airlock_fail(report_fd, AIRLOCK_STAGE_FORK_WORKER, errno, 0);
    if (worker == 0) {
        close(control_fd);
        airlock_worker_main(spec, report_fd);
    }
    close(report_fd);
    supervise(worker, control_fd);
    _exit(125);
}

static unsigned long clone_flags(uint32_t flags) {
    unsigned long out = SIGCHLD;
    if (flags & AIRLOCK_SPEC_USERNS) out |= CLONE_NEWUSER;
    if (flags & AIRLOCK_SPEC_MOUNTNS) out |= CLONE_NEWNS;
    if (flags & AIRLOCK_SPEC_PIDNS) out |= CLONE_NEWPID;
    if (flags & AIRLOCK_SPEC_NETNS) out |= CLONE_NEWNET;
    if (flags & AIRLOCK_SPEC_IPCNS) out |= CLONE_NEWIPC;
    if (flags & AIRLOCK_SPEC_UTSNS) out |= CLONE_NEWUTS;
    if (flags & AIRLOCK_SPEC_CGROUPNS) out |= CLONE_NEWCGROUP;
    return out;
}

int airlock_sandbox_spawn(const struct airlock_sandbox_spec *spec, struct airlock_sandbox_process *out) {
    if (spec->listen_count < 0 || spec->listen_count > 8) return -EINVAL;
    int report[2];
    int control[2];
    if (pipe2(report, O_CLOEXEC) != 0) return -errno;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, control) != 0) {
        int err = errno;
        close(report[0]);
        close(report[1]);
        return -err;
    }
    // A raw clone rather than fork(): namespaces are created atomically with the child, and no atfork handlers
    // of the multi-threaded Swift runtime run in it.
    pid_t pid = (pid_t)syscall(SYS_clone, clone_flags(spec->flags), 0, 0, 0, 0);
    if (pid == 0) {
        close(report[0]);
        close(control[0]);
        supervisor_main(spec, report[1], control[1]);
    }
    int err = pid < 0 ? errno : 0;
    close(report[1]);
    close(control[1]);
    if (pid < 0) {
        close(report[0]);
        close(control[0]);
        return -err;
    }
    out->pid = pid;
    out->control_fd = control[0];
    out->report_fd = report[0];
    return 0;
}

int airlock_sandbox_receive_listeners(int control_fd, int *fds, int max_fds, int *count) {
    char tag = 0;
    char unused[4];
    ssize_t n = airlock_recv_message(control_fd, &tag, unused, sizeof(unused), fds, max_fds, count);
    if (n < 0) return (int)n;
    if (n == 0 || tag != 'L') return -EPIPE;
    return 0;
}

int airlock_sandbox_release(int control_fd) {
    return airlock_send_message(control_fd, 'G', NULL, 0, NULL, 0);
}

int airlock_sandbox_read_report(int report_fd, struct airlock_report *out) {
    ssize_t n;
    do {
        n = read(report_fd, out, sizeof(*out));
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    if (n == 0) return 0;
    return n == (ssize_t)sizeof(*out) ? 1 : -EIO;
}

int airlock_sandbox_wait(pid_t supervisor, int control_fd, int *status) {
    char tag = 0;
    int32_t wire = 0;
    ssize_t n = airlock_recv_message(control_fd, &tag, &wire, sizeof(wire), NULL, 0, NULL);
    int supervisor_status = 0;
    pid_t reaped;
    do {
        reaped = waitpid(supervisor, &supervisor_status, 0);
    } while (reaped < 0 && errno == EINTR);
    if (reaped < 0) return -errno;
    // Without a relayed status the supervisor itself died (killed from outside): report its own status.
    *status = (n > 0 && tag == 'S') ? wire : supervisor_status;
    return 0;
}
