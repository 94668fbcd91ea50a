#if canImport(Glibc)
import Glibc
#endif
// `struct stat` comes from the C headers that swift-certificates' Foundation dependency also maps (CoreFoundation);
// with member import visibility that module must be imported where its members are used.
import CoreFoundation

/// An error from a system call: which call, on what, and errno.
public struct SystemCallError: Error, CustomStringConvertible, Sendable {
    public var call: String
    public var subject: String
    public var errno: Int32

    public var description: String {
        "\(call)(\(subject)) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// Runs a system call, retrying on EINTR, and turns -1 into a `SystemCallError`.
@discardableResult
func retryingEINTR<T: BinaryInteger>(_ call: String, _ subject: String, _ body: () -> T) throws(SystemCallError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let e = errno
        if e == EINTR { continue }
        throw SystemCallError(call: call, subject: subject, errno: e)
    }
}

/// Small file-system helpers for crash-safe state files.
enum DurableFile {
    /// Writes `bytes` to `path` atomically: temp file, fsync, rename, directory fsync.
    static func replace(_ path: String, with bytes: [UInt8], mode: mode_t = 0o600) throws {
        let temp = path + ".tmp"
        let fd = try retryingEINTR("open", temp) { open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
        do {
            try writeAll(fd, bytes, subject: temp)
            try retryingEINTR("fsync", temp) { fsync(fd) }
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        close(fd)
        try retryingEINTR("rename", path) { rename(temp, path) }
        try syncDirectory(of: path)
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], subject: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = try bytes.withUnsafeBytes { (raw) throws -> Int in
                try retryingEINTR("write", subject) { write(fd, raw.baseAddress! + offset, raw.count - offset) }
            }
            offset += n
        }
    }

    static func syncDirectory(of path: String) throws(SystemCallError) {
        let dir: String
        if let slash = path.lastIndex(of: "/") {
            dir = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            dir = "."
        }
        let fd = try retryingEINTR("open", dir) { open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        try retryingEINTR("fsync", dir) { fsync(fd) }
    }

    /// The whole file, or nil if it does not exist.
    static func read(_ path: String, limit: Int = 256 << 20) throws -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw SystemCallError(call: "open", subject: path, errno: errno)
        }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = try chunk.withUnsafeMutableBytes { (raw) throws -> Int in
                try retryingEINTR("read", path) { Glibc.read(fd, raw.baseAddress!, raw.count) }
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
            if result.count > limit {
                throw SystemCallError(call: "read", subject: path, errno: EFBIG)
            }
        }
        return result
    }

    /// Gives a directory and the files directly in it to `uid`/`gid` (the receipt log's folder is flat).
    static func chownTree(_ path: String, uid: uid_t, gid: gid_t) throws {
        guard chown(path, uid, gid) == 0 else { throw SystemCallError(call: "chown", subject: path, errno: errno) }
        guard let dir = opendir(path) else { throw SystemCallError(call: "opendir", subject: path, errno: errno) }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            let child = path + "/" + name
            guard lchown(child, uid, gid) == 0 else { throw SystemCallError(call: "chown", subject: child, errno: errno) }
        }
    }

    /// Creates `path` as a directory with `mode` if missing; refuses a path that exists and is not one.
    static func ensureDirectory(_ path: String, mode: mode_t = 0o700) throws(SystemCallError) {
        if mkdir(path, mode) == 0 { return }
        let e = errno
        guard e == EEXIST else { throw SystemCallError(call: "mkdir", subject: path, errno: e) }
        var st = stat()
        guard stat(path, &st) == 0 else { throw SystemCallError(call: "stat", subject: path, errno: errno) }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw SystemCallError(call: "mkdir", subject: path, errno: ENOTDIR) }
    }
}
