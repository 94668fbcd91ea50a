#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

// The new root is an empty tmpfs mounted over the host's /tmp, which only this mount namespace sees; pivot_root then
// detaches the host tree entirely, so nothing outside the view assembled on it stays reachable.
#define ROOT "/tmp"
#define MAX_BINDS 16
#define MAX_VIEW 128

static const char *const device_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

static int open_clone(const char *path, int recursive) {
    unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path, flags);
    return fd < 0 ? -errno : fd;
}

static int set_attr(int dfd, const char *path, unsigned at_flags, uint64_t set, uint64_t clear) {
    struct mount_attr attr = {.attr_set = set, .attr_clr = clear};
    if (syscall(SYS_mount_setattr, dfd, path, at_flags, &attr, sizeof(attr)) != 0) return -errno;
    return 0;
}

static int attach(int tree, const char *target) {
    if (syscall(SYS_move_mount, tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) != 0) return -errno;
    return 0;
}

// Creates missing directories of an absolute path below the new root (they only ever land on our own tmpfs:
// EEXIST wins over EROFS for directories that already exist in the read-only view).
static int mkdir_p(char *path) {
    for (char *p = path + 1; *p != 0; p++) {
        if (*p != '/') continue;
        *p = 0;
        int rc = mkdir(path, 0755);
        *p = '/';
        if (rc != 0 && errno != EEXIST) return -errno;
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST) return -errno;
    return 0;
}

static int under_root(char *buf, const char *path) {
    return airlock_join(buf, PATH_MAX, ROOT, path);
}

static void check(int rc, int report_fd, int stage, int detail) {
    if (rc < 0) airlock_fail(report_fd, stage, -rc, detail);
}

// A hidden directory becomes an empty, read-only tmpfs with mode 000; a hidden file becomes a bind of /dev/null
// on a nodev mount, so opening it fails with EACCES (fs/namei.c may_open) instead of revealing anything.
static int hide(const char *path) {
    char target[PATH_MAX];
    int rc = under_root(target, path);
    if (rc != 0) return rc;
    struct stat st;
    if (lstat(target, &st) != 0) return errno == ENOENT ? 0 : -errno;
    if (S_ISDIR(st.st_mode)) {
        if (mount("airlock-hidden", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "mode=000,size=4k") != 0)
            return -errno;
        return 0;
    }
    int tree = open_clone("/dev/null", 0);
    if (tree < 0) return tree;
    rc = set_attr(tree, "", AT_EMPTY_PATH, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
                  0);
    if (rc == 0) rc = attach(tree, target);
    close(tree);
    return rc;
}

static int bind_writable(int tree, const char *path) {
    char target[PATH_MAX];
    int rc = under_root(target, path);
    if (rc == 0) rc = mkdir_p(target);
    if (rc == 0) rc = attach(tree, target);
    if (rc == 0) rc = set_attr(AT_FDCWD, target, AT_RECURSIVE, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, MOUNT_ATTR_RDONLY);
    return rc;
}

static int populate_dev(void) {
    const char *dev = ROOT "/dev";
    if (mount("airlock-dev", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k") != 0) return -errno;
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof(device_nodes) / sizeof(device_nodes[0]); i++) {
        char source[64];
        airlock_join(source, sizeof(source), "/dev/", device_nodes[i]);
        airlock_join(path, sizeof(path), ROOT "/dev/", device_nodes[i]);
        int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
        if (fd < 0) return -errno;
        close(fd);
        int tree = open_clone(source, 0);
        if (tree < 0) return tree;
        int rc = set_attr(tree, "", AT_EMPTY_PATH, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, 0);
        if (rc == 0) rc = attach(tree, path);
        close(tree);
        if (rc != 0) return rc;
    }
    static const char *const links[][2] = {
        {"/proc/self/fd", ROOT "/dev/fd"},       {"/proc/self/fd/0", ROOT "/dev/stdin"},
        {"/proc/self/fd/1", ROOT "/dev/stdout"}, {"/proc/self/fd/2", ROOT "/dev/stderr"},
        {"pts/ptmx", ROOT "/dev/ptmx"},
    };
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        if (symlink(links[i][0], links[i][1]) != 0) return -errno;
    }
    if (mkdir(ROOT "/dev/shm", 01777) != 0 || mkdir(ROOT "/dev/pts", 0755) != 0) return -errno;
    if (mount("airlock-shm", ROOT "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=64m") != 0)
        return -errno;
    if (mount("devpts", ROOT "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620") != 0)
        return -errno;
    return set_attr(AT_FDCWD, dev, 0, MOUNT_ATTR_RDONLY, 0);
}

// Makes the parent directories of an absolute path below the new root (on its tmpfs).
static int mkdir_parent(char *target) {
    char *slash = strrchr(target, '/');
    if (slash == NULL || slash == target) return 0;
    *slash = 0;
    int rc = mkdir_p(target);
    *slash = '/';
    return rc;
}

// One entry of the view: a bind of a clone made before the host's /tmp was covered, a symbolic link, or a file.
static int make_view_entry(const struct airlock_view_entry *entry, int tree) {
    char target[PATH_MAX];
    int rc = under_root(target, entry->path);
    if (rc == 0) rc = mkdir_parent(target);
    if (rc != 0) return rc;
    switch (entry->kind) {
    case AIRLOCK_VIEW_BIND: {
        struct stat st;
        if (fstat(tree, &st) != 0) return -errno;
        if (S_ISDIR(st.st_mode)) {
            rc = mkdir_p(target);
        } else {
            int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
            if (fd < 0 && errno != EEXIST && errno != EROFS) return -errno;
            if (fd >= 0) close(fd);
        }
        return rc != 0 ? rc : attach(tree, target);
    }
    case AIRLOCK_VIEW_SYMLINK:
        return symlink(entry->source, target) == 0 ? 0 : -errno;
    case AIRLOCK_VIEW_FILE: {
        int fd = open(target, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0) return -errno;
        size_t length = strlen(entry->source), done = 0;
        while (done < length) {
            ssize_t n = write(fd, entry->source + done, length - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                rc = n < 0 ? -errno : -EIO;
                close(fd);
                return rc;
            }
            done += (size_t)n;
        }
        return close(fd) == 0 ? 0 : -errno;
    }
    default:
        return -EINVAL;
    }
}

// Whether an absolute path is, or lies below, a directory the sandbox mounts a file system of its own on (its private
// /tmp, its empty /run, its /dev): a view entry there is made after that mount, on top of it, or the mount would hide
// it.
static int under_own_mount(const char *path) {
    static const char *const mounts[] = {"/tmp", "/run", "/dev"};
    for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
        size_t n = strlen(mounts[i]);
        if (strncmp(path, mounts[i], n) == 0 && (path[n] == 0 || path[n] == '/')) return 1;
    }
    return 0;
}

void airlock_setup_mounts(const struct airlock_sandbox_spec *spec, int report_fd) {
    int err = airlock_injected(spec, AIRLOCK_STAGE_MOUNT_PRIVATE);
    if (err == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) err = errno;
    if (err != 0) airlock_fail(report_fd, AIRLOCK_STAGE_MOUNT_PRIVATE, err, 0);

    // Clone every bind source first: the workdir or a policy path may itself live under the host's /tmp, which the
    // new root covers next.
    if (spec->readwrite_count > MAX_BINDS - 1) airlock_fail(report_fd, AIRLOCK_STAGE_OPEN_TREE, E2BIG, 0);
    if (spec->view_count > MAX_VIEW) airlock_fail(report_fd, AIRLOCK_STAGE_MOUNT_VIEW, E2BIG, 0);
    int workdir = open_clone(spec->workdir, 1);
    check(workdir, report_fd, AIRLOCK_STAGE_MOUNT_WORKDIR, 0);
    int extra[MAX_BINDS];
    for (int i = 0; i < spec->readwrite_count; i++) {
        extra[i] = open_clone(spec->readwrite_paths[i], 1);
        check(extra[i], report_fd, AIRLOCK_STAGE_MOUNT_READWRITE, i);
    }
    int view[MAX_VIEW];
    for (int i = 0; i < spec->view_count; i++) {
        view[i] = -1;
        if (spec->view[i].kind != AIRLOCK_VIEW_BIND) continue;
        view[i] = open_clone(spec->view[i].source, 1);
        check(view[i], report_fd, AIRLOCK_STAGE_MOUNT_VIEW, i);
        // One recursive mount_setattr makes every submount read-only, nosuid and nodev (mount_setattr(2), Linux
        // 5.12); MS_REMOUNT|MS_BIND would only change the top mount.
        check(set_attr(view[i], "", AT_EMPTY_PATH | AT_RECURSIVE, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                       0),
              report_fd, AIRLOCK_STAGE_MOUNT_ROOT_READONLY, i);
    }

    // The new root is an empty tmpfs: only what the view lists appears on it, and it turns read-only below.
    err = airlock_injected(spec, AIRLOCK_STAGE_MOUNT_ROOT_ATTACH);
    if (err == 0 && mount("airlock-root", ROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") != 0) err = errno;
    if (err != 0) airlock_fail(report_fd, AIRLOCK_STAGE_MOUNT_ROOT_ATTACH, err, 0);
    for (int i = 0; i < spec->view_count; i++) {
        if (under_own_mount(spec->view[i].path)) continue;
        check(make_view_entry(&spec->view[i], view[i]), report_fd, AIRLOCK_STAGE_MOUNT_VIEW, i);
        if (view[i] >= 0) close(view[i]);
    }

    static const char *const directories[] = {ROOT "/tmp", ROOT "/dev", ROOT "/run", ROOT "/proc"};
    for (size_t i = 0; i < sizeof(directories) / sizeof(directories[0]); i++) {
        if (mkdir(directories[i], 0755) != 0 && errno != EEXIST) airlock_fail(report_fd, AIRLOCK_STAGE_MOUNT_VIEW, errno, -1);
    }
    if (mount("airlock-tmp", ROOT "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, spec->tmp_options) != 0)
        airlock_fail(report_fd, AIRLOCK_STAGE_MOUNT_TMP, errno, 0);
    // /run is empty but for what the policy names (allowSocketPaths): services keep their sockets there on a host. It
    // turns read-only once the policy's paths are on it.
    if (mount("airlock-run", ROOT "/run", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=4k") != 0)
        airlock_fail(report_fd, AIRLOCK_STAGE_MOUNT_TMP, errno, 1);
    check(populate_dev(), report_fd, AIRLOCK_STAGE_MOUNT_DEV, 0);
    // The policy's paths inside /tmp, /run or /dev, on top of the sandbox's own mounts there.
    for (int i = 0; i < spec->view_count; i++) {
        if (!under_own_mount(spec->view[i].path)) continue;
        check(make_view_entry(&spec->view[i], view[i]), report_fd, AIRLOCK_STAGE_MOUNT_VIEW, i);
        if (view[i] >= 0) close(view[i]);
    }
    check(bind_writable(workdir, spec->workdir), report_fd, AIRLOCK_STAGE_MOUNT_WORKDIR, 0);
    close(workdir);
    for (int i = 0; i < spec->readwrite_count; i++) {
        check(bind_writable(extra[i], spec->readwrite_paths[i]), report_fd, AIRLOCK_STAGE_MOUNT_READWRITE, i);
        close(extra[i]);
    }
    // Hidden paths go last so that a secret below the workdir or a read-write path is covered too.
    for (int i = 0; i < spec->hidden_count; i++) {
        check(hide(spec->hidden_paths[i]), report_fd, AIRLOCK_STAGE_MOUNT_HIDE, i);
    }
    check(set_attr(AT_FDCWD, ROOT "/run", 0, MOUNT_ATTR_RDONLY, 0), report_fd, AIRLOCK_STAGE_MOUNT_ROOT_READONLY, -1);
    // A fresh procfs shows only the sandbox's pid namespace: the router's /proc/<pid> does not exist here.
    if (mount("proc", ROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        airlock_fail(report_fd, AIRLOCK_STAGE_MOUNT_PROC, errno, 0);
    // Nothing more is created on the root tmpfs: it turns read-only before the worker can see it.
    check(set_attr(AT_FDCWD, ROOT, 0, MOUNT_ATTR_RDONLY, 0), report_fd, AIRLOCK_STAGE_MOUNT_ROOT_READONLY, -1);

    // pivot_root(".", ".") stacks the old root under the new one; detaching it removes the host tree
    // (pivot_root(2), NOTES).
    err = 0;
    if (chdir(ROOT) != 0 || syscall(SYS_pivot_root, ".", ".") != 0 || umount2(".", MNT_DETACH) != 0 || chdir("/") != 0)
        err = errno;
    if (err != 0) airlock_fail(report_fd, AIRLOCK_STAGE_PIVOT_ROOT, err, 0);
}
