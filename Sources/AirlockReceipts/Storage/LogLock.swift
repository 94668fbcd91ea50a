#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive `flock` on `LOCK` in the log directory, so two writers never append to one log. The kernel drops it
/// when the process dies, so a crash never leaves the log locked.
struct LogLock {
    let fd: Int32

    init(directory: String, holder: String = "this receipt log") throws(ReceiptLogError) {
        let path = directory + "/" + LogFiles.lock
        let fd = try syscall("open lock file", path: path) { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            throw ReceiptLogError(
                .locked,
                "another process has \(holder) open for writing; stop it first",
                path: directory
            )
        }
        self.fd = fd
    }

    /// Unlocks before closing: a copy of the descriptor held elsewhere (a child between fork and exec inherits one)
    /// would otherwise keep the lock until it goes too.
    func release() {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
