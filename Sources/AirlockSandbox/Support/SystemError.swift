#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CAirlockSandbox

/// An errno value with its symbolic name, as printed in every launcher message.
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The raw errno.
    public var code: Int32

    public init(_ code: Int32) {
        self.code = code
    }

    /// "EPERM", or "errno 4242" when libc has no name for it.
    public var name: String {
        guard let cName = airlock_errno_name(code) else { return "errno \(code)" }
        return String(cString: cName)
    }

    /// "EPERM (Operation not permitted)".
    public var description: String {
        "\(name) (\(String(cString: strerror(code))))"
    }
}

/// Calls a libc/C-shim function that returns -1 with errno, or -errno, retrying on EINTR in one place.
@discardableResult
func valueOrErrno<T: SignedInteger>(_ body: () -> T) throws(SystemError) -> T {
    while true {
        let value = body()
        if value >= 0 { return value }
        let code = value == -1 ? errno : Int32(truncatingIfNeeded: -value)
        if code == EINTR { continue }
        throw SystemError(code)
    }
}
