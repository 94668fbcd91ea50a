#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

// Declared here rather than taken from <linux/landlock.h>: Debian 12's headers stop at ABI 2, the kernel speaks 7.
// Layouts from include/uapi/linux/landlock.h.
struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

struct ll_net_port_attr {
    uint64_t allowed_access;
    uint64_t port;
};

#define LL_RULE_PATH_BENEATH 1
#define LL_RULE_NET_PORT 2
#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_NET_CONNECT_TCP (1ULL << 1)

// Rights that make sense on a non-directory (fs/landlock/fs.c ACCESS_FILE): EXECUTE, WRITE_FILE, READ_FILE,
// TRUNCATE, IOCTL_DEV. Adding directory rights to a file rule is EINVAL.
#define LL_ACCESS_FILE ((1ULL << 0) | (1ULL << 1) | (1ULL << 2) | (1ULL << 14) | (1ULL << 15))

int airlock_landlock_abi(void) {
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
    return abi < 0 ? 0 : (int)abi;
}

static int add_path_rule(int ruleset, const struct airlock_landlock_path_rule *rule, uint64_t handled) {
    int fd = open(rule->path, O_PATH | O_CLOEXEC);
    // A policy may name paths that this host lacks (/usr/local, /opt): nothing to allow there.
    if (fd < 0) return errno == ENOENT ? 0 : -errno;
    struct stat st;
    uint64_t access = rule->access & handled;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) access &= LL_ACCESS_FILE;
    struct ll_path_beneath_attr attr = {.allowed_access = access, .parent_fd = fd};
    long rc = access == 0 ? 0 : syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &attr, 0);
    int err = rc != 0 ? errno : 0;
    close(fd);
    return -err;
}

void airlock_apply_landlock(const struct airlock_sandbox_spec *spec, int report_fd) {
    if (spec->landlock_abi <= 0) return;
    struct ll_ruleset_attr attr = {
        .handled_access_fs = spec->landlock_handled_fs,
        .handled_access_net = spec->landlock_handled_net,
        .scoped = spec->landlock_scoped,
    };
    int err = airlock_injected(spec, AIRLOCK_STAGE_LANDLOCK_CREATE_RULESET);
    int ruleset = -1;
    if (err == 0) {
        ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
        if (ruleset < 0) err = errno;
    }
    if (err != 0) airlock_fail(report_fd, AIRLOCK_STAGE_LANDLOCK_CREATE_RULESET, err, 0);
    for (int i = 0; i < spec->landlock_path_count; i++) {
        int rc = add_path_rule(ruleset, &spec->landlock_paths[i], spec->landlock_handled_fs);
        if (rc != 0) airlock_fail(report_fd, AIRLOCK_STAGE_LANDLOCK_ADD_RULE, -rc, i);
    }
    if (spec->landlock_handled_net & LL_NET_CONNECT_TCP) {
        for (int i = 0; i < spec->landlock_connect_count; i++) {
            struct ll_net_port_attr port = {.allowed_access = LL_NET_CONNECT_TCP,
                                            .port = spec->landlock_connect_ports[i]};
            if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_NET_PORT, &port, 0) != 0)
                airlock_fail(report_fd, AIRLOCK_STAGE_LANDLOCK_ADD_RULE, errno, spec->landlock_path_count + i);
        }
    }
    err = airlock_injected(spec, AIRLOCK_STAGE_LANDLOCK_RESTRICT_SELF);
    if (err == 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) err = errno;
    if (err != 0) airlock_fail(report_fd, AIRLOCK_STAGE_LANDLOCK_RESTRICT_SELF, err, 0);
    close(ruleset);
}
