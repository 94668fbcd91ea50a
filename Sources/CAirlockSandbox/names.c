#include "CAirlockSandbox.h"

#include <string.h>

static const char *const stage_names[AIRLOCK_STAGE_COUNT] = {
    [AIRLOCK_STAGE_NONE] = "none",
    [AIRLOCK_STAGE_CLONE] = "clone",
    [AIRLOCK_STAGE_SIGNALS] = "reset_signals",
    [AIRLOCK_STAGE_USERNS_MAP] = "write_id_maps",
    [AIRLOCK_STAGE_MOUNT_PRIVATE] = "mount_make_rprivate",
    [AIRLOCK_STAGE_OPEN_TREE] = "open_tree",
    [AIRLOCK_STAGE_MOUNT_ROOT_READONLY] = "mount_setattr_readonly",
    [AIRLOCK_STAGE_MOUNT_ROOT_ATTACH] = "move_mount_root",
    [AIRLOCK_STAGE_MOUNT_VIEW] = "mount_view",
    [AIRLOCK_STAGE_MOUNT_HIDE] = "mount_hide",
    [AIRLOCK_STAGE_MOUNT_TMP] = "mount_tmp",
    [AIRLOCK_STAGE_MOUNT_WORKDIR] = "mount_workdir",
    [AIRLOCK_STAGE_MOUNT_READWRITE] = "mount_readwrite",
    [AIRLOCK_STAGE_MOUNT_DEV] = "mount_dev",
    [AIRLOCK_STAGE_MOUNT_PROC] = "mount_proc",
    [AIRLOCK_STAGE_PIVOT_ROOT] = "pivot_root",
    [AIRLOCK_STAGE_LOOPBACK_UP] = "loopback_up",
    [AIRLOCK_STAGE_LISTENER] = "listener_bind",
    [AIRLOCK_STAGE_SEND_LISTENERS] = "send_listeners",
    [AIRLOCK_STAGE_WAIT_RELEASE] = "wait_release",
    [AIRLOCK_STAGE_FORK_WORKER] = "fork_worker",
    [AIRLOCK_STAGE_SETGROUPS] = "setgroups",
    [AIRLOCK_STAGE_SETRESGID] = "setresgid",
    [AIRLOCK_STAGE_CAPBSET_DROP] = "capbset_drop",
    [AIRLOCK_STAGE_AMBIENT_CLEAR] = "cap_ambient_clear",
    [AIRLOCK_STAGE_SECUREBITS] = "set_securebits",
    [AIRLOCK_STAGE_SETRESUID] = "setresuid",
    [AIRLOCK_STAGE_CAPSET] = "capset",
    [AIRLOCK_STAGE_RLIMIT] = "setrlimit",
    [AIRLOCK_STAGE_NO_NEW_PRIVS] = "no_new_privs",
    [AIRLOCK_STAGE_PDEATHSIG] = "pdeathsig",
    [AIRLOCK_STAGE_SETSID] = "setsid",
    [AIRLOCK_STAGE_CHDIR] = "chdir",
    [AIRLOCK_STAGE_LANDLOCK_CREATE_RULESET] = "landlock_create_ruleset",
    [AIRLOCK_STAGE_LANDLOCK_ADD_RULE] = "landlock_add_rule",
    [AIRLOCK_STAGE_LANDLOCK_RESTRICT_SELF] = "landlock_restrict_self",
    [AIRLOCK_STAGE_SECCOMP] = "seccomp_set_mode_filter",
    [AIRLOCK_STAGE_EXECVE] = "execve",
};

const char *airlock_stage_name(int stage) {
    if (stage < 0 || stage >= AIRLOCK_STAGE_COUNT || stage_names[stage] == NULL) return "unknown";
    return stage_names[stage];
}

const char *airlock_errno_name(int error) {
    return strerrorname_np(error);
}
