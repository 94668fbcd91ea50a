// Runs inside the Airlock sandbox and tries to get out. Every escape names the exact refusal it expects
// (errno or signal); one machine-readable line per attempt:
//   ESCAPE name=<n> expected=<E> got=<G> ok|FAIL
//   CONTROL name=<n> ok|FAIL detail=<d>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/inotify.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef AF_ALG
#define AF_ALG 38
#endif
#ifndef AF_SMC
#define AF_SMC 43
#endif
#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#ifndef IPPROTO_SMC
#define IPPROTO_SMC 256
#endif

static int failures = 0;

struct options {
    int router_pid;
    const char *hidden_file;
    const char *hidden_dir;
    const char *outside_file;
    const char *suid_probe;
    long nproc;
    int router_port;
    // Made on the host by the test: stream.sock, dgram.sock, seqpacket.sock and worker.sock (mode 0600, owned by
    // the worker's UID) in host_socket_dir; a listening abstract socket; a 0600 file of the worker's UID.
    const char *host_socket_dir;
    const char *abstract_name;
    const char *worker_file;
    // privileged, userns or unprivileged: what the launcher ran as, for the probes whose refusal differs.
    const char *mode;
    // Nothing answers the router's ports (airlock run --no-router): the router controls are skipped.
    int no_router;
};

static int is_unprivileged(const struct options *o) {
    return o->mode != NULL && strcmp(o->mode, "unprivileged") == 0;
}

static const char *errno_text(int err) {
    const char *name = strerrorname_np(err);
    return name != NULL ? name : "EUNKNOWN";
}

static void line(const char *name, const char *expected, const char *got) {
    int ok = strcmp(expected, got) == 0;
    if (!ok) failures++;
    printf("ESCAPE name=%s expected=%s got=%s %s\n", name, expected, got, ok ? "ok" : "FAIL");
    fflush(stdout);
}

static void control(const char *name, int ok, const char *detail) {
    if (!ok) failures++;
    printf("CONTROL name=%s %s detail=%s\n", name, ok ? "ok" : "FAIL", detail);
    fflush(stdout);
}

// rc < 0 with errno set is a refusal; anything else is a success the sandbox should not have allowed.
static void expect_errno(const char *name, int expected, long rc, int err) {
    line(name, errno_text(expected), rc < 0 ? errno_text(err) : "success");
}

#define TRY(name, expected, call)                 \
    do {                                          \
        errno = 0;                                \
        long rc_ = (long)(call);                  \
        expect_errno(name, expected, rc_, errno); \
    } while (0)

static void expect_signal(const char *name, int expected, void (*body)(void)) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        body();
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    char got[32];
    if (WIFSIGNALED(status)) {
        snprintf(got, sizeof(got), "%s", sigabbrev_np(WTERMSIG(status)));
    } else {
        snprintf(got, sizeof(got), "exit%d", WEXITSTATUS(status));
    }
    char want[32];
    snprintf(want, sizeof(want), "%s", sigabbrev_np(expected));
    line(name, want, got);
}

static int tcp_connect(int family, const char *address, int port) {
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int rc;
    if (family == AF_INET) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        inet_pton(AF_INET, address, &a.sin_addr);
        rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
    } else {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
        inet_pton(AF_INET6, address, &a.sin6_addr);
        rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
    }
    int err = errno;
    close(fd);
    errno = err;
    return rc;
}

static int tcp_bind(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
    int err = errno;
    close(fd);
    errno = err;
    return rc;
}

// connect() (stream, seqpacket) or sendto() (datagram) to a pathname or abstract Unix socket.
static int unix_reach(int type, const char *path, int abstract) {
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t length = strlen(path);
    if (length + 2 > sizeof(a.sun_path)) length = sizeof(a.sun_path) - 2;
    memcpy(a.sun_path + (abstract ? 1 : 0), path, length);
    socklen_t size = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length + 1);
    int rc = type == SOCK_DGRAM ? (int)sendto(fd, "x", 1, 0, (struct sockaddr *)&a, size)
                                : connect(fd, (struct sockaddr *)&a, size);
    int err = errno;
    close(fd);
    errno = err;
    return rc;
}

static int listen_unbound(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int rc = listen(fd, 1);
    int err = errno;
    close(fd);
    errno = err;
    return rc;
}

static void host_view(const struct options *o) {
    int unprivileged = is_unprivileged(o);
    // Without a mount namespace the host's socket files stay reachable (Landlock cannot mediate connect() on them
    // before ABI 8); the launcher lists that among what the mode does not apply.
    if (o->host_socket_dir != NULL && !unprivileged) {
        static const struct {
            const char *name, *file;
            int type;
        } sockets[] = {
            {"host_unix_stream_socket", "stream.sock", SOCK_STREAM},
            {"host_unix_dgram_socket", "dgram.sock", SOCK_DGRAM},
            {"host_unix_seqpacket_socket", "seqpacket.sock", SOCK_SEQPACKET},
            {"host_unix_socket_of_worker_uid", "worker.sock", SOCK_STREAM},
        };
        for (size_t i = 0; i < sizeof(sockets) / sizeof(sockets[0]); i++) {
            char path[256];
            snprintf(path, sizeof(path), "%s/%s", o->host_socket_dir, sockets[i].file);
            // Outside the view the path does not exist.
            TRY(sockets[i].name, ENOENT, unix_reach(sockets[i].type, path, 0));
        }
        int watcher = inotify_init1(IN_CLOEXEC);
        TRY("inotify_host_dir", ENOENT,
            watcher < 0 ? -1 : inotify_add_watch(watcher, o->host_socket_dir, IN_ALL_EVENTS));
        if (watcher >= 0) close(watcher);
    }
    // Another network namespace has its own abstract names; without one, Landlock's scope refuses (ABI 6).
    if (o->abstract_name != NULL)
        TRY("host_abstract_unix_socket", unprivileged ? EPERM : ECONNREFUSED, unix_reach(SOCK_STREAM, o->abstract_name, 1));
    if (o->worker_file != NULL) TRY("host_file_of_worker_uid", unprivileged ? EACCES : ENOENT, open(o->worker_file, O_RDONLY));
    if (unprivileged) {
        TRY("listen_autobind_host_port", EPERM, listen_unbound());
        return;
    }
    static const char *const absent[] = {"/sys/class/net", "/home", "/root", "/var/lib", "/srv", "/mnt", "/media",
                                         "/etc/shadow", "/run/dbus", "/run/systemd", "/run/user"};
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
        char name[64];
        snprintf(name, sizeof(name), "view_has_no%s", absent[i]);
        for (char *c = name; *c != 0; c++) if (*c == '/' || *c == '.') *c = '_';
        TRY(name, ENOENT, open(absent[i], O_RDONLY));
    }
    char got[64] = "unreadable";
    DIR *run = opendir("/run");
    if (run != NULL) {
        int entries = 0;
        for (struct dirent *e; (e = readdir(run)) != NULL;)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) entries++;
        closedir(run);
        snprintf(got, sizeof(got), entries == 0 ? "empty" : "entries%d", entries);
    }
    line("run_is_empty", "empty", got);
    // /etc/passwd names root, the worker and nobody only: no host account is visible.
    FILE *passwd = fopen("/etc/passwd", "r");
    int accounts = 0, host_accounts = 0;
    char entry[512];
    while (passwd != NULL && fgets(entry, sizeof(entry), passwd) != NULL) {
        accounts++;
        if (strncmp(entry, "root:", 5) != 0 && strncmp(entry, "airlock:", 8) != 0 && strncmp(entry, "nobody:", 7) != 0)
            host_accounts++;
    }
    if (passwd != NULL) fclose(passwd);
    snprintf(got, sizeof(got), accounts == 0 ? "unreadable" : host_accounts == 0 ? "curated" : "host%d", host_accounts);
    line("passwd_is_curated", "curated", got);
}

static long ptrace_attach(int pid) {
    return syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, pid, 0, 0);
}

static void network(const struct options *o) {
    TRY("tcp4_external_https", EACCES, tcp_connect(AF_INET, "1.1.1.1", 443));
    // Without a network namespace the router's port is one Landlock allows, on the host's real network.
    if (!is_unprivileged(o)) TRY("tcp4_external_router_port", ENETUNREACH, tcp_connect(AF_INET, "1.1.1.1", o->router_port));
    TRY("tcp4_metadata_service", EACCES, tcp_connect(AF_INET, "169.254.169.254", 80));
    TRY("tcp4_loopback_ssh", EACCES, tcp_connect(AF_INET, "127.0.0.1", 22));
    TRY("tcp4_loopback_other_port", EACCES, tcp_connect(AF_INET, "127.0.0.1", 8080));
    TRY("tcp6_external_https", EACCES, tcp_connect(AF_INET6, "2606:4700:4700::1111", 443));
    if (!is_unprivileged(o))
        TRY("tcp6_external_router_port", ENETUNREACH, tcp_connect(AF_INET6, "2606:4700:4700::1111", o->router_port));
    TRY("tcp6_loopback_other_port", EACCES, tcp_connect(AF_INET6, "::1", 22));
    TRY("tcp_bind_listener", EACCES, tcp_bind(9999));
    TRY("udp4_socket", EPERM, socket(AF_INET, SOCK_DGRAM, 0));
    TRY("udp6_socket", EPERM, socket(AF_INET6, SOCK_DGRAM, 0));
    TRY("dns_udp_socket", EPERM, socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP));
    TRY("dns_tcp_resolver", EACCES, tcp_connect(AF_INET, "8.8.8.8", 53));
    TRY("raw_socket_icmp", EPERM, socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
    TRY("raw6_socket", EPERM, socket(AF_INET6, SOCK_RAW, IPPROTO_RAW));
    TRY("packet_socket", EPERM, socket(AF_PACKET, SOCK_RAW, htons(0x0003)));
    TRY("netlink_route_socket", EPERM, socket(AF_NETLINK, SOCK_RAW, 0));
    TRY("vsock_socket", EPERM, socket(AF_VSOCK, SOCK_STREAM, 0));
    TRY("af_alg_socket", EPERM, socket(AF_ALG, SOCK_SEQPACKET, 0));
    TRY("socket_type_high_bits", EPERM, syscall(SYS_socket, 0x100000002L, SOCK_STREAM, 0));
    TRY("io_uring_setup", EPERM, syscall(SYS_io_uring_setup, 8, calloc(1, 256)));
    // Inet stream sockets of another protocol escape Landlock's TCP rules: only 0 and IPPROTO_TCP are allowed.
    TRY("mptcp4_socket", EPERM, socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP));
    TRY("mptcp6_socket", EPERM, socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_MPTCP));
    TRY("sctp_stream_socket", EPERM, socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP));
    TRY("sctp6_stream_socket", EPERM, socket(AF_INET6, SOCK_STREAM, IPPROTO_SCTP));
    TRY("smc_inet_socket", EPERM, socket(AF_INET, SOCK_STREAM, IPPROTO_SMC));
    TRY("smc_family_socket", EPERM, socket(AF_SMC, SOCK_STREAM, 0));
    TRY("inet_socketpair", EPERM, syscall(SYS_socketpair, AF_INET, SOCK_STREAM, 0, (int[2]){-1, -1}));
}

static void processes(const struct options *o) {
    TRY("ptrace_attach_router", EPERM, ptrace_attach(o->router_pid));
    TRY("ptrace_attach_supervisor", EPERM, ptrace_attach(1));
    TRY("ptrace_traceme", EPERM, syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0));
    char buffer[16];
    struct iovec local = {buffer, sizeof(buffer)}, remote = {(void *)0x400000, sizeof(buffer)};
    TRY("process_vm_readv_router", EPERM, syscall(SYS_process_vm_readv, o->router_pid, &local, 1, &remote, 1, 0));
    TRY("process_vm_writev_supervisor", EPERM, syscall(SYS_process_vm_writev, 1, &local, 1, &remote, 1, 0));
    TRY("kill_router", ESRCH, kill(o->router_pid, SIGKILL));
    TRY("kill_supervisor", EPERM, kill(1, SIGTERM));
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/environ", o->router_pid);
    TRY("proc_router_environ", ENOENT, open(path, O_RDONLY));
    snprintf(path, sizeof(path), "/proc/%d/mem", o->router_pid);
    TRY("proc_router_mem", ENOENT, open(path, O_RDONLY));
    TRY("proc_supervisor_environ", EACCES, open("/proc/1/environ", O_RDONLY));
    TRY("proc_supervisor_mem", EACCES, open("/proc/1/mem", O_RDWR));
    TRY("pidfd_getfd_supervisor", EPERM, syscall(SYS_pidfd_getfd, 0, 0, 0));
    TRY("kcmp", EPERM, syscall(SYS_kcmp, getpid(), 1, 0, 0, 0));
}

static long try_capset_sys_admin(void) {
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2] = {{0, 0, 0}, {0, 0, 0}};
    d[0].effective = d[0].permitted = 1u << CAP_SYS_ADMIN;
    return syscall(SYS_capset, &h, d);
}

static int is_userns(const struct options *o) {
    return o->mode != NULL && strcmp(o->mode, "user-namespace") == 0;
}

static void privileges(const struct options *o) {
    // Inside a user namespace that maps only the worker's id, 0 is no id at all.
    TRY("setuid_root", is_userns(o) ? EINVAL : EPERM, setuid(0));
    TRY("setresgid_root", is_userns(o) ? EINVAL : EPERM, setresgid(0, 0, 0));
    TRY("capset_sys_admin", EPERM, try_capset_sys_admin());
    TRY("ambient_raise", EPERM, prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_ADMIN, 0, 0));
    TRY("securebits_unlock", EPERM, prctl(PR_SET_SECUREBITS, 0, 0, 0, 0));
    TRY("unshare_user_ns", EPERM, unshare(CLONE_NEWUSER));
    TRY("unshare_net_ns", EPERM, unshare(CLONE_NEWNET));
    TRY("clone_new_user_ns", EPERM, syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
    TRY("clone3", ENOSYS, syscall(SYS_clone3, NULL, 0));
    int ns = open("/proc/self/ns/net", O_RDONLY);
    TRY("setns_net", EPERM, setns(ns, 0));
    close(ns);
    TRY("mount_tmpfs", EPERM, mount("none", "/tmp", "tmpfs", 0, NULL));
    TRY("umount_proc", EPERM, umount2("/proc", MNT_DETACH));
    TRY("pivot_root", EPERM, syscall(SYS_pivot_root, "/tmp", "/tmp"));
    TRY("open_tree", EPERM, syscall(SYS_open_tree, AT_FDCWD, "/", 1));
    TRY("fsopen", EPERM, syscall(SYS_fsopen, "tmpfs", 0));
    TRY("mount_setattr", EPERM, syscall(SYS_mount_setattr, AT_FDCWD, "/", 0, NULL, 0));
    TRY("chroot", EPERM, chroot("/tmp"));
    TRY("keyctl", EPERM, syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    TRY("add_key", EPERM, syscall(SYS_add_key, "user", "airlock", "x", 1, KEY_SPEC_SESSION_KEYRING));
    TRY("request_key", EPERM, syscall(SYS_request_key, "user", "airlock", NULL, 0));
    TRY("bpf", EPERM, syscall(SYS_bpf, 0, NULL, 0));
    struct perf_event_attr pe = {.type = PERF_TYPE_SOFTWARE, .size = sizeof(pe), .config = PERF_COUNT_SW_CPU_CLOCK};
    TRY("perf_event_open", EPERM, syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0));
    TRY("userfaultfd", EPERM, syscall(SYS_userfaultfd, 0));
    TRY("personality_no_aslr", EPERM, personality(ADDR_NO_RANDOMIZE));
    TRY("personality_read_implies_exec", EPERM, personality(READ_IMPLIES_EXEC));
    TRY("tiocsti", EACCES, ioctl(0, TIOCSTI, "x"));
    TRY("tiocsti_high_bits", EACCES, syscall(SYS_ioctl, 0, 0xffffffff00000000UL | TIOCSTI, "x"));
    TRY("tioclinux", EACCES, ioctl(0, TIOCLINUX, "x"));
    TRY("kexec_load", EPERM, syscall(SYS_kexec_load, 0, 0, NULL, 0));
    TRY("init_module", EPERM, syscall(SYS_init_module, NULL, 0, ""));
    TRY("finit_module", EPERM, syscall(SYS_finit_module, -1, "", 0));
    TRY("reboot", EPERM, syscall(SYS_reboot, 0xfee1dead, 672274793, 0x4321fedc, NULL));
    TRY("swapon", EPERM, syscall(SYS_swapon, "/tmp/swap", 0));
    TRY("acct", EPERM, syscall(SYS_acct, "/tmp/acct"));
    TRY("quotactl", EPERM, syscall(SYS_quotactl, 0, "/", 0, NULL));
    TRY("syslog_read", EPERM, syscall(SYS_syslog, 3, NULL, 0));
    TRY("iopl", EPERM, syscall(SYS_iopl, 3));
    TRY("raise_nproc_limit", EPERM, setrlimit(RLIMIT_NPROC, &(struct rlimit){RLIM_INFINITY, RLIM_INFINITY}));
    TRY("controlling_tty", ENXIO, open("/dev/tty", O_RDWR));
    if (o->suid_probe != NULL) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            execl(o->suid_probe, o->suid_probe, "--print-euid", (char *)NULL);
            _exit(127);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        char got[32];
        snprintf(got, sizeof(got), "exit%d", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        // The probe exits with 0 if it came up as root: nosuid and no_new_privs both keep euid unchanged.
        line("setuid_binary", "exit1", got);
    }
}

static void filesystem(const struct options *o) {
    TRY("write_etc", EROFS, open("/etc/airlock-escape", O_CREAT | O_WRONLY, 0644));
    TRY("write_usr_bin", EROFS, open("/usr/bin/airlock-escape", O_CREAT | O_WRONLY, 0755));
    TRY("write_var_tmp", EROFS, open("/var/tmp/airlock-escape", O_CREAT | O_WRONLY, 0644));
    // In a user namespace the launcher's files on the view's tmpfs belong to the worker's (only) id: the read-only
    // mount is what refuses.
    TRY("append_etc_passwd", is_userns(o) ? EROFS : EACCES, open("/etc/passwd", O_WRONLY | O_APPEND));
    TRY("mkdir_outside", ENOENT, mkdir("/opt/airlock-escape", 0755));  // no /opt in the view
    if (o->hidden_file != NULL) TRY("read_router_credential", EACCES, open(o->hidden_file, O_RDONLY));
    if (o->hidden_dir != NULL) {
        TRY("list_receipt_dir", EACCES, open(o->hidden_dir, O_RDONLY | O_DIRECTORY));
        char path[512];
        snprintf(path, sizeof(path), "%s/receipts.log", o->hidden_dir);
        TRY("read_receipt_file", EACCES, open(path, O_RDONLY));
    }
    if (o->hidden_file != NULL) {
        unlink("cred-link");
        symlink(o->hidden_file, "cred-link");
        TRY("symlink_to_credential", EACCES, open("cred-link", O_RDONLY));
    }
    if (o->outside_file != NULL) {
        unlink("outside-link");
        symlink(o->outside_file, "outside-link");
        TRY("symlink_write_outside", EROFS, open("outside-link", O_WRONLY));
        TRY("hardlink_outside_in", EXDEV, link(o->outside_file, "outside-hardlink"));
    }
    int fd = open("moved-out", O_CREAT | O_WRONLY, 0644);
    close(fd);
    TRY("rename_out_of_workdir", EXDEV, rename("moved-out", "/var/tmp/moved-out"));
    TRY("hardlink_shadow", ENOENT, link("/etc/shadow", "shadow-link"));  // the curated /etc has no shadow
    TRY("hardlink_etc_file", EXDEV, link("/etc/hosts", "hosts-link"));
    TRY("raw_disk_vda", ENOENT, open("/dev/vda", O_RDONLY));
    TRY("raw_disk_sda", ENOENT, open("/dev/sda", O_RDONLY));
    TRY("dev_mem", ENOENT, open("/dev/mem", O_RDONLY));
    // Landlock denies make_block before the kernel asks for CAP_MKNOD.
    TRY("mknod_block_device", EACCES, mknod("blockdev", S_IFBLK | 0600, makedev(254, 0)));
    struct stat st;
    // Both exist only with CONFIG_PROC_KCORE / CONFIG_MAGIC_SYSRQ.
    if (stat("/proc/kcore", &st) == 0) TRY("proc_kcore", EACCES, open("/proc/kcore", O_RDONLY));
    if (stat("/proc/sysrq-trigger", &st) == 0) TRY("sysrq_trigger", EACCES, open("/proc/sysrq-trigger", O_WRONLY));
    TRY("proc_kmsg", EACCES, open("/proc/kmsg", O_RDONLY));
    TRY("proc_sys_write", EACCES, open("/proc/sys/kernel/hostname", O_WRONLY));
}

// Without a mount namespace the host's /tmp and /dev/shm are the host's: Landlock lets the worker write only its
// workdir and the private directory it gets as TMPDIR.
static void unprivileged_filesystem(void) {
    TRY("write_host_tmp", EACCES, open("/tmp/airlock-escape-host-tmp", O_CREAT | O_WRONLY, 0644));
    TRY("write_host_dev_shm", EACCES, open("/dev/shm/airlock-escape-host-shm", O_CREAT | O_WRONLY, 0644));
    TRY("symlink_in_host_tmp", EACCES, symlink("/etc/shadow", "/tmp/airlock-escape-shadow-link"));
    TRY("write_etc", EACCES, open("/etc/airlock-escape", O_CREAT | O_WRONLY, 0644));
    const char *tmpdir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/control.txt", tmpdir != NULL ? tmpdir : "/nonexistent");
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    control("private_tmpdir_write", tmpdir != NULL && fd >= 0, tmpdir != NULL ? tmpdir : "TMPDIR_unset");
    if (fd >= 0) close(fd);
}

static void ia32_syscall(void) {
    // getpid through the 32-bit int 0x80 entry: an architecture the filter does not list.
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
    _exit(0);
}

static void x32_syscall(void) {
    syscall(0x40000000L | SYS_getpid);
    _exit(0);
}

static void fork_bomb(const struct options *o) {
    // Children park in pause(); the limit (RLIMIT_NPROC) has to stop fork with EAGAIN before the count reaches it.
    pid_t children[4096];
    int count = 0, err = 0;
    long cap = o->nproc > 0 ? o->nproc + 16 : 4096;
    while (count < cap && count < 4096) {
        pid_t pid = fork();
        if (pid == 0) {
            pause();
            _exit(0);
        }
        if (pid < 0) {
            err = errno;
            break;
        }
        children[count++] = pid;
    }
    for (int i = 0; i < count; i++) kill(children[i], SIGKILL);
    for (int i = 0; i < count; i++) waitpid(children[i], NULL, 0);
    line("fork_bomb", "EAGAIN", err != 0 ? errno_text(err) : "unbounded");
    char got[64];
    snprintf(got, sizeof(got), "%s", (o->nproc > 0 && count <= o->nproc) ? "bounded" : "unbounded");
    line("fork_bomb_bounded_by_nproc", "bounded", got);
}

static int run(const char *const argv[]) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void positive_controls(const struct options *o) {
    const char *pipeline[] = {"/bin/sh", "-c", "echo hello | tr a-z A-Z | grep -q HELLO", NULL};
    control("shell_pipeline", run(pipeline) == 0, "sh | tr | grep");
    const char *python[] = {"/usr/bin/python3", "-c", "import json,hashlib,subprocess; assert sum(range(10)) == 45", NULL};
    control("python", run(python) == 0, "python3 -c");
    int fd = open("control.txt", O_CREAT | O_TRUNC | O_RDWR, 0644);
    char buf[8] = {0};
    int ok = fd >= 0 && write(fd, "airlock", 7) == 7 && pread(fd, buf, 7, 0) == 7 && strcmp(buf, "airlock") == 0;
    if (fd >= 0) close(fd);
    control("workdir_write_read", ok, "control.txt");
    if (!is_unprivileged(o)) {
        fd = open("/tmp/control.txt", O_CREAT | O_TRUNC | O_RDWR, 0644);
        control("tmp_write", fd >= 0 && write(fd, "x", 1) == 1, "/tmp/control.txt");
        if (fd >= 0) close(fd);
    }
    const char *git[] = {"/bin/sh", "-c", "git init -q repo && cd repo && echo a > a && git add a && "
                         "git -c user.email=a@b -c user.name=a commit -qm init && git log --oneline | grep -q init", NULL};
    if (access("/usr/bin/git", X_OK) == 0) control("git_local", run(git) == 0, "git init/add/commit/log");
    int s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    control("tcp_socket_explicit_protocol", s >= 0, s >= 0 ? "IPPROTO_TCP" : errno_text(errno));
    if (s >= 0) close(s);
    if (o->no_router) return;
    s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->router_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char response[256] = {0};
    ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (ok) {
        const char *request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        ok = write(s, request, strlen(request)) > 0 && read(s, response, sizeof(response) - 1) > 0 &&
             strncmp(response, "HTTP/1.1 200", 12) == 0;
    }
    if (s >= 0) close(s);
    control("router_http", ok, ok ? "HTTP/1.1_200" : errno_text(errno));
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", o->router_port);
    const char *curl[] = {"/usr/bin/curl", "-sf", "-o", "/dev/null", "--noproxy", "*", url, NULL};
    if (access("/usr/bin/curl", X_OK) == 0) control("curl_router", run(curl) == 0, "curl 127.0.0.1");
}

int main(int argc, char **argv) {
    struct options o = {.router_pid = 0, .nproc = 0, .router_port = 8443};
    for (int i = 1; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--print-euid") == 0) return geteuid() == 0 ? 0 : 1;
        if (strcmp(argv[i], "--no-router") == 0) {
            o.no_router = 1;
            continue;
        }
        if (next == NULL) break;
        if (strcmp(argv[i], "--router-pid") == 0) o.router_pid = atoi(next), i++;
        else if (strcmp(argv[i], "--hidden-file") == 0) o.hidden_file = next, i++;
        else if (strcmp(argv[i], "--hidden-dir") == 0) o.hidden_dir = next, i++;
        else if (strcmp(argv[i], "--outside-file") == 0) o.outside_file = next, i++;
        else if (strcmp(argv[i], "--suid-probe") == 0) o.suid_probe = next, i++;
        else if (strcmp(argv[i], "--nproc") == 0) o.nproc = atol(next), i++;
        else if (strcmp(argv[i], "--router-port") == 0) o.router_port = atoi(next), i++;
        else if (strcmp(argv[i], "--host-socket-dir") == 0) o.host_socket_dir = next, i++;
        else if (strcmp(argv[i], "--abstract-name") == 0) o.abstract_name = next, i++;
        else if (strcmp(argv[i], "--worker-file") == 0) o.worker_file = next, i++;
        else if (strcmp(argv[i], "--mode") == 0) o.mode = next, i++;
    }
    if (o.router_pid <= 0) o.router_pid = 999999;
    positive_controls(&o);
    network(&o);
    host_view(&o);
    processes(&o);
    privileges(&o);
    if (is_unprivileged(&o)) {
        unprivileged_filesystem();
    } else {
        filesystem(&o);
    }
    expect_signal("ia32_int80_syscall", SIGSYS, ia32_syscall);
    expect_signal("x32_syscall", SIGSYS, x32_syscall);
    fork_bomb(&o);
    printf("SUMMARY failures=%d\n", failures);
    return failures == 0 ? 0 : 1;
}
