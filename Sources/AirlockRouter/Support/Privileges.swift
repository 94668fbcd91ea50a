#if canImport(Glibc)
import Glibc
#endif
import CAirlockLinux

/// Dropping from root to the router's own user once sockets are bound and credentials read.
public enum Privileges {
    public struct Target: Sendable, Equatable {
        public var uid: uid_t
        public var gid: gid_t
        public var name: String
    }

    /// Resolves a user name or numeric UID.
    public static func resolve(_ user: String) throws -> Target {
        if let entry = getpwnam(user) {
            return Target(uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid, name: user)
        }
        if let uid = uid_t(user) {
            let entry = getpwuid(uid)
            return Target(uid: uid, gid: entry?.pointee.pw_gid ?? uid, name: user)
        }
        throw SystemCallError(call: "getpwnam", subject: "user \"\(user)\" (create it, or pass a numeric UID)", errno: ENOENT)
    }

    /// Switches every thread of the process to `target` and verifies, thread by thread, that none kept
    /// root (see `airlock_setid_all_threads` for why glibc's setuid alone is not enough), then checks that
    /// root cannot be regained.
    public static func drop(to target: Target) throws {
        let rc = airlock_setid_all_threads(target.uid, target.gid)
        guard rc == 0 else {
            throw SystemCallError(call: "set*id on every thread", subject: target.name, errno: -rc)
        }
        if target.uid != 0 && setuid(0) == 0 {
            throw SystemCallError(call: "setuid(0) after drop", subject: target.name, errno: EPERM)
        }
    }

    /// Raises the soft limit on open descriptors to the hard limit (at most 1,048,576); a failure leaves it as it was.
    static func raiseOpenFileLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let wanted = min(limit.rlim_max, 1 << 20)
        guard limit.rlim_cur < wanted else { return }
        limit.rlim_cur = wanted
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
