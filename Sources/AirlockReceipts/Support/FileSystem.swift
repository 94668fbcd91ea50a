import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Small, explicit file helpers. Durability-relevant steps (fsync of files and directories) are spelled out.
enum FileSystem {
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    static func createDirectory(_ path: String) throws(ReceiptLogError) {
        if exists(path) { return }
        do {
            try FileManager.default.createDirectory(
                atPath: path,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        } catch {
            throw ReceiptLogError(.io, "cannot create directory: \(error)", path: path)
        }
    }

    /// Reads a whole file, or its bytes from `offset` on. Returns nil if it does not exist.
    static func readFile(_ path: String, from offset: Int = 0) throws(ReceiptLogError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            try syscall("open for reading", path: path) { fd }
        }
        defer { close(fd) }
        var info = stat()
        try syscall("fstat", path: path) { fstat(fd, &info) }
        let size = max(0, Int(info.st_size) - offset)
        var failure: ReceiptLogError?
        // Uninitialised capacity: the file is read straight into the array without zero-filling it first.
        let out = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var done = 0
            while done < size {
                do throws(ReceiptLogError) {
                    let n = try syscall("read", path: path) {
                        pread(fd, buffer.baseAddress! + done, size - done, off_t(offset + done))
                    }
                    if n == 0 { break }
                    done += n
                } catch {
                    failure = error
                    break
                }
            }
            initialized = done
        }
        if let failure { throw failure }
        return out
    }

    static func parent(of path: String) -> String {
        let parent = (path as NSString).deletingLastPathComponent
        return parent.isEmpty ? "." : parent
    }

    /// Names of the entries of a directory, sorted.
    static func list(_ path: String) throws(ReceiptLogError) -> [String] {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw ReceiptLogError(.io, "no such log directory; check the path", path: path)
        }
        do {
            return try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        } catch {
            throw ReceiptLogError(.io, "cannot list directory: \(error)", path: path)
        }
    }

    static func fsyncDirectory(_ path: String) throws(ReceiptLogError) {
        let fd = try syscall("open directory", path: path) { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        try syscall("fsync directory", path: path) { fsync(fd) }
    }

    /// Writes all bytes at the current offset of `fd`.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(ReceiptLogError) {
        var done = 0
        while done < bytes.count {
            let n = try syscall("write", path: path) {
                bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            }
            done += n
        }
    }

    /// Replaces `path` atomically and durably: write a temporary file, fsync it, rename it over `path`, fsync the
    /// directory. A crash at any point leaves either the old or the new content.
    static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws(ReceiptLogError) {
        let directory = parent(of: path)
        let temporary = path + ".tmp"
        let fd = try syscall("create", path: temporary) {
            open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        }
        do {
            try writeAll(fd, bytes, path: temporary)
            try syscall("fsync", path: temporary) { fsync(fd) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        try syscall("rename", path: path) { rename(temporary, path) }
        try fsyncDirectory(directory)
    }

    /// Creates a file with `bytes` and `mode` only if it does not exist yet; returns false if it existed.
    static func createExclusive(_ bytes: [UInt8], at path: String, mode: mode_t) throws(ReceiptLogError) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        if fd < 0 {
            if errno == EEXIST { return false }
            try syscall("create", path: path) { fd }
        }
        defer { close(fd) }
        try writeAll(fd, bytes, path: path)
        try syscall("fsync", path: path) { fsync(fd) }
        try fsyncDirectory(parent(of: path))
        return true
    }

    static func mode(of path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o7777
    }
}
