#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CAirlockSandbox

/// The worker's filesystem, assembled from an allowlist on an empty read-only tmpfs rather than the host tree minus
/// a hide list: the system trees (`/usr` and the merged-usr links), a curated `/etc`, the workdir read-write, private
/// `/tmp`, `/dev/shm` and an empty `/run`, a minimal `/dev`, a fresh `/proc`, and only what the policy adds by name.
/// There is no `/sys`, `/home`, `/root`, `/var`, `/srv`, `/mnt` or `/media`, so no host socket file is reachable
/// unless a policy names its directory in `allowSocketPaths`.
public struct RootView: Sendable, Equatable {
    public enum Entry: Sendable, Equatable {
        /// A read-only recursive bind of the host path at the same path.
        case bind(String)
        /// A symbolic link with the host's target (merged-usr links, `/etc/localtime`).
        case symlink(String, target: String)
        /// A file the launcher writes (`/etc/passwd` naming only root, the worker and nobody).
        case file(String, contents: String)

        public var path: String {
            switch self {
            case .bind(let path), .symlink(let path, _), .file(let path, _): return path
            }
        }
    }

    /// In the order they are made: parents before children, policy paths after the base.
    public var entries: [Entry]

    /// Trees every program needs; on a merged-usr host all but `/usr` are symbolic links into it.
    static let systemTrees = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]

    /// What programs read from `/etc` (the loader, TLS roots, time zone, alternatives, Python's and git's system
    /// files); everything else there (shadow, sudoers, ssh keys, the host's accounts and services) stays out.
    static let etcEntries = [
        "alternatives", "bash.bashrc", "ca-certificates", "ca-certificates.conf", "crypto-policies", "debian_version",
        "gai.conf", "gitattributes", "gitconfig", "gitignore", "inputrc", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "locale.alias", "localtime",
        "magic", "magic.mime", "mime.types", "os-release", "pki", "profile", "protocols", "services", "shells", "ssl",
        "terminfo", "timezone",
    ]

    /// Host directories where services keep their sockets: a policy path that is, contains or lies inside one is
    /// refused unless the policy lists it in `allowSocketPaths`.
    public static let socketDirectories = ["/run", "/var/run", "/dev", "/proc", "/sys"]
    /// Shared scratch directories, where any program may leave a socket (`/tmp/.X11-unix`): a policy path may not
    /// be or contain one, but a directory of its own inside one is the operator's to name.
    public static let sharedDirectories = ["/tmp", "/var/tmp", "/dev/shm"]

    /// Builds the view for `policy`, reading only the host's `/`, `/etc` and the policy's paths (lstat, readlink).
    public init(policy: SandboxPolicy, uid: UInt32, gid: UInt32, home: String) throws {
        var entries: [Entry] = []
        for path in Self.systemTrees {
            if let entry = Self.mirror(path) { entries.append(entry) }
        }
        var etc = Self.etcEntries
        if let names = Self.directoryNames("/etc") {
            etc += names.filter { $0.hasPrefix("python3") }.sorted()
        }
        for name in etc {
            if let entry = Self.mirror("/etc/\(name)") { entries.append(entry) }
        }
        entries += Self.generatedFiles(uid: uid, gid: gid, home: home)
        for path in policy.readonlyPaths {
            try Self.check(path, key: "readonlyPaths", policy: policy, mustExist: true)
            entries.append(.bind(path))
        }
        for path in policy.readwritePaths {
            try Self.check(path, key: "readwritePaths", policy: policy, mustExist: true)
        }
        self.entries = entries
    }

    /// The host path's own kind at the same place: a link stays a link, a directory or file is bound; nil if absent.
    static func mirror(_ path: String) -> Entry? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        if (st.st_mode & S_IFMT) == S_IFLNK {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = readlink(path, &buffer, buffer.count - 1)
            guard length > 0 else { return nil }
            return .symlink(path, target: String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return .bind(path)
    }

    static func generatedFiles(uid: UInt32, gid: UInt32, home: String) -> [Entry] {
        [
            .file("/etc/passwd", contents: """
                root:x:0:0:root:/root:/usr/sbin/nologin
                airlock:x:\(uid):\(gid):Airlock worker:\(home):/bin/sh
                nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin

                """),
            .file("/etc/group", contents: "root:x:0:\nairlock:x:\(gid):\nnogroup:x:65534:\n"),
            .file("/etc/hosts", contents: "127.0.0.1 localhost airlock\n::1 localhost ip6-localhost ip6-loopback\n"),
            .file("/etc/hostname", contents: "airlock\n"),
            // Accounts and names come from the files above only: no lookup may reach a host service's socket.
            .file("/etc/nsswitch.conf", contents: """
                passwd: files
                group: files
                shadow: files
                hosts: files
                networks: files
                protocols: files
                services: files

                """),
        ]
    }

    /// Where the worker finds the curated trust store (the host's system roots, then the router's egress CA) and
    /// the egress CA alone (for NODE_EXTRA_CA_CERTS). Files written into the view, directly in its /etc (a directory
    /// the view would make for them is not searchable by the worker); the host's /etc/ssl is unchanged.
    public static let trustBundlePath = "/etc/airlock-ca-bundle.pem"
    public static let egressCAPath = "/etc/airlock-egress-ca.pem"
    /// The host's system roots, first found (Debian and Ubuntu, then Fedora and RHEL, then Alpine and others).
    static let systemRootFiles = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"]

    /// The two trust files for a router's egress CA certificate.
    static func trustFiles(egressCertificate: String) -> [Entry] {
        var roots = ""
        for path in systemRootFiles {
            if let text = readSmallFile(path, limit: 4 << 20) {
                roots = text
                break
            }
        }
        if !roots.isEmpty && !roots.hasSuffix("\n") { roots += "\n" }
        var ca = egressCertificate
        if !ca.hasSuffix("\n") { ca += "\n" }
        return [
            .file(trustBundlePath, contents: roots + "# Airlock egress CA (the router inspects some hosts for this sandbox)\n" + ca),
            .file(egressCAPath, contents: ca),
        ]
    }

    /// A regular file's text, if it exists and is at most `limit` bytes.
    static func readSmallFile(_ path: String, limit: Int) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, Int(st.st_size) <= limit,
            let bytes = try? readAll(fd: fd, limit: limit)
        else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A policy path must be absolute, exist, and not expose a socket directory unless named in `allowSocketPaths`.
    static func check(_ path: String, key: String, policy: SandboxPolicy, mustExist: Bool) throws {
        guard path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
            throw SandboxLaunchError(code: .invalidPolicy, message: "\(key): \"\(path)\" must be an absolute path without \"..\"")
        }
        let normalized = "/" + path.split(separator: "/").joined(separator: "/")
        if !policy.allowSocketPaths.contains(normalized) {
            let exposed = socketDirectories.filter { Self.overlaps(normalized, $0) }
                + sharedDirectories.filter { normalized == $0 || Self.contains(normalized, $0) }
            for directory in exposed {
                throw SandboxLaunchError(
                    code: .invalidPolicy,
                    message: "\(key): \"\(path)\" would show the host's \(directory), where services keep their sockets "
                        + "(a socket file can be connected to through a read-only view); name a narrower path, or list "
                        + "\"\(normalized)\" in allowSocketPaths to expose it on purpose")
            }
        }
        if mustExist, access(path, F_OK) != 0 {
            throw SandboxLaunchError(code: .invalidPolicy, message: "\(key): \"\(path)\": \(SystemError(errno)); create it or remove it from the policy")
        }
    }

    /// Whether one path is the other, contains it or lies inside it.
    static func overlaps(_ a: String, _ b: String) -> Bool {
        a == b || contains(a, b) || contains(b, a)
    }

    /// Whether `outer` is a proper ancestor of `inner`.
    static func contains(_ outer: String, _ inner: String) -> Bool {
        outer != inner && (outer == "/" || inner.hasPrefix(outer + "/"))
    }

    static func directoryNames(_ path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The paths Landlock lets the worker read and execute: the same allowlist, plus `/proc` for the process's own
    /// files. Without a mount namespace this is what stands between the worker and the host's files.
    public var readablePaths: [String] {
        entries.compactMap { entry in
            switch entry {
            case .bind(let path), .file(let path, _): return path
            case .symlink: return nil
            }
        } + ["/proc"]
    }
}
