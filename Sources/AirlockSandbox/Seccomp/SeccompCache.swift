#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CAirlockSandbox
import CSeccomp

/// Compiled seccomp programs on disk, so that a launch loads a few kilobytes instead of running libseccomp.
///
/// An entry is named by the SHA-256 of everything its program depends on (`key`), and repeats that key and the
/// program's own digest inside, so a file copied or renamed to another name, or cut short, is never used. The
/// program is what the worker's confinement rests on, so an entry is trusted only as far as its directory is:
/// the directory and the file must belong to root (or to the launcher's own user) and be writable by nobody else,
/// the file must be a regular file and not a symlink. Anything else is not loaded, and the profile is compiled.
public struct SeccompCache: Sendable {
    public var directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// Where root's launches keep compiled programs. A launcher that is not root uses no cache by default: its
    /// worker runs under the same uid and could write the entries its next launch would load.
    public static let systemDirectory = "/var/cache/airlock/seccomp"

    public enum Lookup: Sendable {
        case hit(SeccompProgram)
        case miss
        /// The entry or its directory is not trustworthy, or does not hold this key's program; why.
        case refused(String)
    }

    static let magic = Array("AIRLOCK-SECCOMP\u{0}".utf8)
    static let formatVersion: UInt32 = 1
    /// Header: magic, format version, filter flags, instruction count, key, digest of all that and the program.
    static let headerSize = 16 + 4 + 4 + 4 + 32 + 32
    /// BPF_MAXINSNS: the kernel takes no longer program.
    static let maxInstructions = 4096

    /// What a compiled program depends on: the profile's bytes, the machine and kernel the compiler evaluated
    /// Docker's conditions against, libseccomp, and this build of airlock.
    /// `refused`: syscalls the launcher takes out of the profile's allow rules for this mode.
    public static func key(profile: [UInt8], target: SeccompCompiler.Target = .init(), refused: [String] = []) -> [UInt8] {
        var material = Array("airlock seccomp cache \(formatVersion)\n".utf8)
        let fields = [
            "airlock \(AirlockVersion.current) build \(AirlockVersion.buildID)",
            "libseccomp \(SeccompCompiler.libseccompVersion)",
            "arch \(seccomp_arch_native()) \(target.goArchitecture)",
            "kernel \(target.kernelRelease)",
            "capabilities \(target.capabilities.sorted().joined(separator: ","))",
        ] + (refused.isEmpty ? [] : ["refused \(refused.joined(separator: ","))"])
        for field in fields { material += Array(field.utf8) + [0x0A] }
        material += profile
        return sha256(material)
    }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeBytes { airlock_sha256($0.baseAddress, $0.count, &digest) }
        return digest
    }

    func fileName(_ key: [UInt8]) -> String { Hex.encode(key) + ".bpf" }

    /// The program stored under `key`, if there is a trustworthy one.
    public func load(key: [UInt8]) -> Lookup {
        let dir = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard dir >= 0 else {
            return errno == ENOENT ? .miss : .refused("cannot open \(directory): \(SystemError(errno).name)")
        }
        defer { close(dir) }
        if let problem = Self.untrusted(dir, what: "directory \(directory)", directory: true) {
            return .refused(problem)
        }
        let name = fileName(key)
        let path = "\(directory)/\(name)"
        let fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            return errno == ENOENT ? .miss : .refused("cannot open \(path): \(SystemError(errno).name)")
        }
        defer { close(fd) }
        if let problem = Self.untrusted(fd, what: path, directory: false) { return .refused(problem) }
        // One byte more than the largest entry, so that a longer file fails to decode.
        let bytes: [UInt8]
        do {
            bytes = try readAll(fd: fd, limit: Self.headerSize + Self.maxInstructions * 8 + 1)
        } catch {
            return .refused("cannot read \(path): \(error.name)")
        }
        guard let program = Self.decode(bytes, key: key) else {
            return .refused("\(path) does not hold the program for its name (truncated or altered)")
        }
        return .hit(program)
    }

    /// Stores `program` under `key`, atomically: readers see the old entry, none, or the whole new one. Creates the
    /// directory (mode 0700) when its parent exists; refuses to write into a directory it would not trust.
    public func store(_ program: SeccompProgram, key: [UInt8]) throws(SystemError) {
        var dir = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if dir < 0 && errno == ENOENT {
            let parent = parentDirectory(of: directory)
            if !parent.isEmpty && mkdir(parent, 0o700) != 0 && errno != EEXIST { throw SystemError(errno) }
            if mkdir(directory, 0o700) != 0 && errno != EEXIST { throw SystemError(errno) }
            dir = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
        guard dir >= 0 else { throw SystemError(errno) }
        defer { close(dir) }
        guard Self.untrusted(dir, what: directory, directory: true) == nil else { throw SystemError(EPERM) }
        let name = fileName(key)
        let temporary = ".\(name).\(getpid()).tmp"
        let fd = openat(dir, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError(errno) }
        let bytes = Self.encode(program, key: key)
        var written = 0
        do throws(SystemError) {
            while written < bytes.count {
                let n = try valueOrErrno {
                    bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
                }
                // write(2) returns 0 only for a zero count; never loop on it.
                guard n > 0 else { throw SystemError(EIO) }
                written += n
            }
        } catch {
            close(fd)
            unlinkat(dir, temporary, 0)
            throw error
        }
        close(fd)
        // No fsync: an entry lost or cut short by a crash fails its digest check and is compiled again.
        guard renameat(dir, temporary, dir, name) == 0 else {
            let code = errno
            unlinkat(dir, temporary, 0)
            throw SystemError(code)
        }
    }

    /// Why the open file or directory `fd` must not be trusted, or nil. Same rule as the router's key files:
    /// owned by root or by us, and nobody else may write it.
    static func untrusted(_ fd: Int32, what: String, directory: Bool) -> String? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return "cannot stat \(what): \(SystemError(errno).name)" }
        let kind = st.st_mode & S_IFMT
        if directory ? kind != S_IFDIR : kind != S_IFREG {
            return "\(what) is not a \(directory ? "directory" : "regular file")"
        }
        // A refused entry is replaced when the launcher stores the program it compiled instead; a refused directory
        // stays refused until someone fixes it.
        func remedy(_ fix: String) -> String { directory ? "; \(fix), or pass --no-seccomp-cache" : "" }
        let euid = geteuid()
        if st.st_uid != 0 && st.st_uid != euid {
            return "\(what) belongs to uid \(st.st_uid), not to root\(euid == 0 ? "" : " or uid \(euid)")"
                + remedy("chown it to \(euid == 0 ? "root" : "uid \(euid)")")
        }
        if st.st_mode & 0o022 != 0 {
            let mode = String(st.st_mode & 0o7777, radix: 8)
            return "\(what) is writable by its group or others (mode \(mode))" + remedy("chmod go-w it")
        }
        return nil
    }

    /// The digest covers the header and the program, so no bit of either can change unnoticed.
    static func encode(_ program: SeccompProgram, key: [UInt8]) -> [UInt8] {
        var header = magic
        for value in [formatVersion, program.flags, UInt32(program.instructionCount)] {
            withUnsafeBytes(of: value.littleEndian) { header += $0 }
        }
        header += key
        return header + sha256(header + program.filter) + program.filter
    }

    static func decode(_ bytes: [UInt8], key: [UInt8]) -> SeccompProgram? {
        guard bytes.count >= headerSize, bytes.starts(with: magic) else { return nil }
        func u32(_ at: Int) -> UInt32 {
            bytes[at..<at + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) }
        }
        let version = u32(16), flags = u32(20), count = Int(u32(24))
        let storedKey = Array(bytes[28..<60]), digest = Array(bytes[60..<92])
        let filter = Array(bytes[headerSize...])
        guard version == formatVersion, storedKey == key, count > 0, count <= maxInstructions,
            filter.count == count * 8, sha256(Array(bytes[0..<60]) + filter) == digest
        else { return nil }
        return SeccompProgram(filter: filter, flags: flags, summary: nil)
    }
}
