#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Whether a worker UID or GID belongs to someone on the host: an entry in /etc/passwd or /etc/group, or a range in
/// /etc/subuid or /etc/subgid (another user's container files). The files are read directly: the launcher is a
/// static executable, where glibc's NSS cannot load its modules, so accounts only a directory service (LDAP,
/// systemd's dynamic users) knows are not seen; Airlock's reserved range keeps clear of systemd's.
struct HostAccounts {
    var passwdPath = "/etc/passwd"
    var groupPath = "/etc/group"
    var subuidPath = "/etc/subuid"
    var subgidPath = "/etc/subgid"

    /// An account line `name:password:id:...` of passwd(5) or group(5).
    struct Entry {
        var name: String
        var id: UInt32
        /// The primary group (passwd only).
        var group: UInt32?
    }

    static func entries(_ path: String) -> [Entry] {
        guard let bytes = try? readFile(path) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 3, let id = UInt32(fields[2]) else { return nil }
            return Entry(name: String(fields[0]), id: id, group: fields.count >= 4 ? UInt32(fields[3]) : nil)
        }
    }

    /// The account that owns `uid`, described for a message; nil if none.
    func owner(ofUID uid: UInt32) -> String? {
        if let entry = Self.entries(passwdPath).first(where: { $0.id == uid }) {
            return "user \"\(entry.name)\" in \(passwdPath)"
        }
        return Self.subordinate(uid, path: subuidPath)
    }

    func owner(ofGID gid: UInt32) -> String? {
        if let entry = Self.entries(groupPath).first(where: { $0.id == gid }) {
            return "group \"\(entry.name)\" in \(groupPath)"
        }
        return Self.subordinate(gid, path: subgidPath)
    }

    /// `name:start:count` lines (subuid(5)); a line that does not parse is skipped, as shadow-utils does.
    static func subordinate(_ id: UInt32, path: String) -> String? {
        guard let bytes = try? readFile(path) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count == 3, let start = UInt64(fields[1]), let count = UInt64(fields[2]) else { continue }
            if UInt64(id) >= start && UInt64(id) < start + count {
                return "the subordinate range of \"\(fields[0])\" in \(path) (\(start)–\(start + count - 1))"
            }
        }
        return nil
    }

    /// Refuses a worker identity that some host account owns, unless the policy names that account.
    func check(uid: UInt32, gid: UInt32, allowed account: String?) throws {
        var allowedUID: UInt32?, allowedGID: UInt32?
        if let account {
            guard let entry = Self.entries(passwdPath).first(where: { $0.name == account }) else {
                throw SandboxLaunchError(code: .invalidPolicy, message: "hostAccount \"\(account)\" is not an account in \(passwdPath)")
            }
            allowedUID = entry.id
            allowedGID = entry.group
        }
        let range = "\(SandboxPolicy.workerIDs.lowerBound)–\(SandboxPolicy.workerIDs.upperBound)"
        if uid != allowedUID, let owner = owner(ofUID: uid) {
            throw SandboxLaunchError(
                code: .invalidPolicy,
                message: "the worker's uid \(uid) belongs to \(owner): the worker would own that account's files. Choose an unused uid (Airlock reserves \(range)) with uid in the policy or --uid, or name the account in hostAccount to run as it on purpose")
        }
        if gid != allowedGID, let owner = owner(ofGID: gid) {
            throw SandboxLaunchError(
                code: .invalidPolicy,
                message: "the worker's gid \(gid) belongs to \(owner): the worker would own that group's files. Choose an unused gid (Airlock reserves \(range)) with gid in the policy or --gid, or name the account whose primary group it is in hostAccount")
        }
    }
}
