#include "internal.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FAIL_IF(stage, expr, detail)                                                 \
    do {                                                                             \
        int injected_ = airlock_injected(spec, stage);                               \
        if (injected_ != 0) airlock_fail(report_fd, stage, injected_, detail);       \
        if ((expr) != 0) airlock_fail(report_fd, stage, errno, detail);              \
    } while (0)

// Order matters: dropping the bounding set and locking securebits need CAP_SETPCAP, which setresuid takes away,
// so both happen while still privileged; NO_SETUID_FIXUP then keeps setresuid from touching the capability sets,
// and capset clears them explicitly afterwards (capabilities(7), "Effect of user ID changes on capabilities").
void airlock_drop_privileges(const struct airlock_sandbox_spec *spec, int report_fd) {
    if (spec->flags & AIRLOCK_SPEC_SWITCH_IDS) {
        // Inside a user namespace setgroups is denied (we wrote "deny" before mapping ids).
        if (!(spec->flags & AIRLOCK_SPEC_USERNS)) FAIL_IF(AIRLOCK_STAGE_SETGROUPS, syscall(SYS_setgroups, 0, NULL), 0);
        FAIL_IF(AIRLOCK_STAGE_SETRESGID, syscall(SYS_setresgid, spec->gid, spec->gid, spec->gid), 0);
    }
    if (spec->flags & AIRLOCK_SPEC_DROP_CAPS) {
        // Walk every capability number until the kernel says it does not know it (cap_last_cap may exceed
        // CAP_LAST_CAP from our headers on a newer kernel).
        for (int cap = 0; cap < 64; cap++) {
            if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
                if (errno == EINVAL) break;
                airlock_fail(report_fd, AIRLOCK_STAGE_CAPBSET_DROP, errno, cap);
            }
        }
        FAIL_IF(AIRLOCK_STAGE_AMBIENT_CLEAR, prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), 0);
        unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                             SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
                             SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
        FAIL_IF(AIRLOCK_STAGE_SECUREBITS, prctl(PR_SET_SECUREBITS, bits, 0, 0, 0), 0);
    }
    if (spec->flags & AIRLOCK_SPEC_SWITCH_IDS) {
        FAIL_IF(AIRLOCK_STAGE_SETRESUID, syscall(SYS_setresuid, spec->uid, spec->uid, spec->uid), 0);
    }
    if (spec->flags & AIRLOCK_SPEC_DROP_CAPS) {
        struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {{0, 0, 0}, {0, 0, 0}};
        FAIL_IF(AIRLOCK_STAGE_CAPSET, syscall(SYS_capset, &header, data), 0);
    }
}
