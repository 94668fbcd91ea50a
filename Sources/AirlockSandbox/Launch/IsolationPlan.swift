#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CAirlockSandbox

/// Which kernel mechanisms this launch uses, decided from who we are and what the kernel allows.
public struct IsolationPlan: Sendable {
    public enum Mode: String, Sendable {
        /// Root: namespaces, mounts, identity switch, capability drop.
        case privileged
        /// Not root, user namespaces allowed: the same isolation inside a user namespace that maps only our ids.
        case userNamespace = "unprivileged (user namespace)"
        /// Not root, no user namespaces: no_new_privs, Landlock, seccomp, rlimits, setsid only.
        case unprivileged
    }

    public var mode: Mode
    var flags: UInt32
    public var uid: UInt32
    public var gid: UInt32
    /// What this mode cannot apply, for stderr and the admin receipt.
    public var skipped: [String]

    public var hasNetworkNamespace: Bool { flags & AIRLOCK_SPEC_NETNS.rawValue != 0 }
    public var hasMountNamespace: Bool { flags & AIRLOCK_SPEC_MOUNTNS.rawValue != 0 }

    static func make(policy: SandboxPolicy, uid: UInt32?, gid: UInt32?, requested: Mode? = nil) throws -> IsolationPlan {
        let namespaces = AIRLOCK_SPEC_MOUNTNS.rawValue | AIRLOCK_SPEC_PIDNS.rawValue | AIRLOCK_SPEC_NETNS.rawValue
            | AIRLOCK_SPEC_IPCNS.rawValue | AIRLOCK_SPEC_UTSNS.rawValue
            | (access("/proc/self/ns/cgroup", F_OK) == 0 ? AIRLOCK_SPEC_CGROUPNS.rawValue : 0)
        let identity = AIRLOCK_SPEC_SWITCH_IDS.rawValue | AIRLOCK_SPEC_DROP_CAPS.rawValue
        if geteuid() == 0, let requested, requested != .privileged {
            throw SandboxLaunchError(code: .invalidPolicy, message: "--isolation \(requested == .unprivileged ? "unprivileged" : "user-namespace") is for a launcher that is not root (as root the worker would keep root's identity); run airlock run as the user it should use")
        }
        if geteuid() == 0 {
            let targetUID = uid ?? policy.uid, targetGID = gid ?? policy.gid
            // A worker that is root in the initial user namespace would own every root-owned file it can reach.
            guard targetUID != 0, targetGID != 0 else {
                throw SandboxLaunchError(code: .invalidPolicy, message: "the worker must not run as uid/gid 0; set uid and gid in the policy or pass --uid/--gid")
            }
            try HostAccounts().check(uid: targetUID, gid: targetGID, allowed: policy.hostAccount)
            return IsolationPlan(mode: .privileged, flags: namespaces | identity, uid: targetUID, gid: targetGID, skipped: [])
        }
        let ownUID = getuid(), ownGID = getgid()
        if let uid, uid != ownUID {
            throw SandboxLaunchError(code: .invalidPolicy, message: "--uid \(uid) needs root; unprivileged mode runs the worker as uid \(ownUID)")
        }
        if let gid, gid != ownGID {
            throw SandboxLaunchError(code: .invalidPolicy, message: "--gid \(gid) needs root; unprivileged mode runs the worker as gid \(ownGID)")
        }
        if requested != .unprivileged, airlock_userns_available() != 0 {
            // Inside the namespace the worker is the policy's unused id (mapped to ours outside), not our account.
            let innerUID = policy.uid == 0 ? SandboxPolicy.workerIDs.lowerBound : policy.uid
            let innerGID = policy.gid == 0 ? SandboxPolicy.workerIDs.lowerBound : policy.gid
            return IsolationPlan(mode: .userNamespace, flags: AIRLOCK_SPEC_USERNS.rawValue | namespaces | identity,
                                 uid: innerUID, gid: innerGID, skipped: ["setgroups (denied inside a user namespace)"])
        }
        return IsolationPlan(
            mode: .unprivileged, flags: 0, uid: ownUID, gid: ownGID,
            skipped: [
                requested == .unprivileged
                    ? "mount/pid/net/ipc/uts namespaces (--isolation unprivileged)"
                    : "mount/pid/net/ipc/uts namespaces (not root and user namespaces are disabled)",
                "the allowlisted root view, private /tmp and /dev, fresh /proc: Landlock lets the worker read the same "
                    + "allowlist and write only its workdir and a private TMPDIR, but the host's Unix socket files "
                    + "stay connectable (Landlock cannot mediate connect() on them)",
                "hidden paths \(policy.hiddenPaths) (rely on file permissions)",
                "network namespace: the worker shares the host network; only Landlock limits TCP connect, and "
                    + "listen() is refused (it would bind a host port)",
                "identity switch and capability drop (already unprivileged)",
            ])
    }
}
