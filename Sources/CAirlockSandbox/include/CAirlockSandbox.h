#ifndef AIRLOCK_CAIRLOCKSANDBOX_H
#define AIRLOCK_CAIRLOCKSANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Steps of the post-fork setup, in the order they run. A failure is reported as (stage, errno).
enum airlock_stage {
    AIRLOCK_STAGE_NONE = 0,
    AIRLOCK_STAGE_CLONE,
    AIRLOCK_STAGE_SIGNALS,
    AIRLOCK_STAGE_USERNS_MAP,
    AIRLOCK_STAGE_MOUNT_PRIVATE,
    AIRLOCK_STAGE_OPEN_TREE,
    AIRLOCK_STAGE_MOUNT_ROOT_READONLY,
    AIRLOCK_STAGE_MOUNT_ROOT_ATTACH,
    AIRLOCK_STAGE_MOUNT_VIEW,
    AIRLOCK_STAGE_MOUNT_HIDE,
    AIRLOCK_STAGE_MOUNT_TMP,
    AIRLOCK_STAGE_MOUNT_WORKDIR,
    AIRLOCK_STAGE_MOUNT_READWRITE,
    AIRLOCK_STAGE_MOUNT_DEV,
    AIRLOCK_STAGE_MOUNT_PROC,
    AIRLOCK_STAGE_PIVOT_ROOT,
    AIRLOCK_STAGE_LOOPBACK_UP,
    AIRLOCK_STAGE_LISTENER,
    AIRLOCK_STAGE_SEND_LISTENERS,
    AIRLOCK_STAGE_WAIT_RELEASE,
    AIRLOCK_STAGE_FORK_WORKER,
    AIRLOCK_STAGE_SETGROUPS,
    AIRLOCK_STAGE_SETRESGID,
    AIRLOCK_STAGE_CAPBSET_DROP,
    AIRLOCK_STAGE_AMBIENT_CLEAR,
    AIRLOCK_STAGE_SECUREBITS,
    AIRLOCK_STAGE_SETRESUID,
    AIRLOCK_STAGE_CAPSET,
    AIRLOCK_STAGE_RLIMIT,
    AIRLOCK_STAGE_NO_NEW_PRIVS,
    AIRLOCK_STAGE_PDEATHSIG,
    AIRLOCK_STAGE_SETSID,
    AIRLOCK_STAGE_CHDIR,
    AIRLOCK_STAGE_LANDLOCK_CREATE_RULESET,
    AIRLOCK_STAGE_LANDLOCK_ADD_RULE,
    AIRLOCK_STAGE_LANDLOCK_RESTRICT_SELF,
    AIRLOCK_STAGE_SECCOMP,
    AIRLOCK_STAGE_EXECVE,
    AIRLOCK_STAGE_COUNT
};

/// Which isolation steps the child performs.
enum airlock_spec_flags {
    AIRLOCK_SPEC_USERNS = 1 << 0,
    AIRLOCK_SPEC_MOUNTNS = 1 << 1,
    AIRLOCK_SPEC_PIDNS = 1 << 2,
    AIRLOCK_SPEC_NETNS = 1 << 3,
    AIRLOCK_SPEC_IPCNS = 1 << 4,
    AIRLOCK_SPEC_UTSNS = 1 << 5,
    AIRLOCK_SPEC_CGROUPNS = 1 << 6,
    AIRLOCK_SPEC_SWITCH_IDS = 1 << 7,
    AIRLOCK_SPEC_DROP_CAPS = 1 << 8,
};

struct airlock_rlimit {
    int resource;
    uint64_t value;
};

/// One entry of the worker's root view (see RootView.swift), made in order on an empty tmpfs.
enum airlock_view_kind {
    AIRLOCK_VIEW_BIND = 0,     ///< read-only recursive bind of `source` (a host path) at `path`
    AIRLOCK_VIEW_SYMLINK = 1,  ///< symbolic link at `path` pointing to `source`
    AIRLOCK_VIEW_FILE = 2,     ///< file at `path` (mode 0644) holding the string `source`
};

struct airlock_view_entry {
    const char *path;
    const char *source;
    int kind;
};

struct airlock_landlock_path_rule {
    const char *path;
    uint64_t access;
};

/// Everything the child needs, prepared by the parent before fork; the child only reads it.
struct airlock_sandbox_spec {
    const char *exec_path;
    char *const *argv;
    char *const *envp;
    const char *workdir;
    uint32_t uid;
    uint32_t gid;
    uint32_t outer_uid;
    uint32_t outer_gid;
    uint32_t flags;

    const struct airlock_view_entry *view;
    int view_count;
    const char *const *hidden_paths;
    int hidden_count;
    const char *const *readwrite_paths;
    int readwrite_count;
    const char *tmp_options;

    const uint16_t *listen_ports;
    int listen_count;

    const struct airlock_rlimit *rlimits;
    int rlimit_count;

    int landlock_abi;
    uint64_t landlock_handled_fs;
    uint64_t landlock_handled_net;
    uint64_t landlock_scoped;
    const struct airlock_landlock_path_rule *landlock_paths;
    int landlock_path_count;
    const uint16_t *landlock_connect_ports;
    int landlock_connect_count;

    const void *seccomp_filter;
    unsigned short seccomp_filter_len;
    unsigned int seccomp_flags;

    /// A pseudo-terminal slave the worker gets in place of each standard descriptor whose bit is set in
    /// `terminal_mask` (bit 0: stdin), and as its controlling terminal; -1: none.
    int terminal_fd;
    int terminal_mask;
    /// Test seam: make this stage fail with this errno instead of running it.
    int inject_stage;
    int inject_errno;
};

/// One record on the report pipe: the stage that failed, its errno and an index into the spec's list.
struct airlock_report {
    int32_t stage;
    int32_t error;
    int32_t detail;
};

struct airlock_sandbox_process {
    pid_t pid;
    int control_fd;
    int report_fd;
};

/// Forks the supervisor (and, after release, the worker). Returns 0 or -errno.
int airlock_sandbox_spawn(const struct airlock_sandbox_spec *spec, struct airlock_sandbox_process *out);

/// Receives the listener fds the supervisor created inside the sandbox's network namespace.
/// Returns 0, -EPIPE if the supervisor exited first (read the report pipe), or -errno.
int airlock_sandbox_receive_listeners(int control_fd, int *fds, int max_fds, int *count);

/// Lets the supervisor start the worker. Returns 0 or -errno.
int airlock_sandbox_release(int control_fd);

/// Reads one report record. Returns 1 for a record, 0 at end of file (the worker reached execve), -errno.
int airlock_sandbox_read_report(int report_fd, struct airlock_report *out);

/// Waits for the worker's wait status relayed by the supervisor; reaps the supervisor.
/// Returns 0 and the status, or -errno.
int airlock_sandbox_wait(pid_t supervisor, int control_fd, int *status);

/// The stage's name as used in messages ("landlock_restrict_self").
const char *airlock_stage_name(int stage);

/// The symbolic name of an errno value ("EPERM"), or NULL.
const char *airlock_errno_name(int error);

/// The highest Landlock ABI the kernel supports, 0 if none.
int airlock_landlock_abi(void);

/// Whether the kernel lets this process create a user namespace (probes in a short-lived child).
int airlock_userns_available(void);

/// memfd_create(name, MFD_CLOEXEC); not visible to Swift through Glibc.
int airlock_memfd(const char *name);

/// Relays SIGTERM, SIGINT, SIGHUP and SIGQUIT to `supervisor` from a signal handler; 0 restores the defaults.
void airlock_forward_signals(pid_t supervisor);

/// The running executable's GNU build-id (at most `cap` bytes); returns its length, 0 if it has none.
int airlock_build_id(uint8_t *out, size_t cap);

/// Opens a pseudo-terminal pair with `operator_fd`'s settings and window size. Returns 0 or -errno.
int airlock_pty_open(int operator_fd, int *master, int *slave);
/// Relays `input_fd` (the operator's terminal, put in raw mode until stop; -1: none) to `master` and `master` to
/// `output_fd` on a thread, and the window size on SIGWINCH. One relay per process. Returns 0 or -errno.
int airlock_pty_relay_start(int master, int input_fd, int output_fd);
/// Drains what the worker wrote, stops the relay, restores the operator's terminal settings, closes `master`.
void airlock_pty_relay_stop(void);
/// SHA-256 (FIPS 180-4) of `length` bytes.
void airlock_sha256(const void *data, size_t length, uint8_t digest[32]);

#endif
