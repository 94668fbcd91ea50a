#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a system call, retrying on `EINTR`, and turns a `-1` result into a ``ReceiptLogError`` with errno.
///
/// This is the one place that reads `errno`.
@discardableResult
func syscall<T: FixedWidthInteger>(
    _ what: @autoclosure () -> String,
    path: String?,
    _ body: () -> T
) throws(ReceiptLogError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = errno
        if code == EINTR { continue }
        throw ReceiptLogError(
            .io,
            "\(what()) failed: \(String(cString: strerror(code))) (errno \(code))\(ioAdvice(code))",
            path: path,
            errno: code
        )
    }
}

private func ioAdvice(_ code: Int32) -> String {
    switch code {
    case ENOSPC, EDQUOT: "; free disk space, then retry"
    case EFBIG: "; the file size limit (RLIMIT_FSIZE) was reached"
    case EACCES, EPERM: "; check ownership and mode of the log directory"
    case EROFS: "; the file system is read-only"
    case EIO: "; the device reported an I/O error, check the disk"
    default: ""
    }
}
