#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Sockets and peers on loopback for tests.
public enum Loopback {
    /// A TCP socket bound to 127.0.0.1 on a port the kernel chose, listening; the caller owns the descriptor.
    public static func listener() -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        listen(fd, 16)
        return (fd, Int(UInt16(bigEndian: addr.sin_port)))
    }

    /// A port that was free a moment ago (for servers started by another program that cannot report theirs).
    public static func freePort() -> Int {
        let (fd, port) = listener()
        close(fd)
        return port
    }

    /// Runs curl as another UID (root only, via setpriv), ignoring proxy variables; returns its exit status and
    /// everything it printed.
    public static func curl(asUID uid: UInt32, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let result = try Spawn.run(
            "/usr/bin/setpriv",
            ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "/usr/bin/curl", "--noproxy", "*", "--max-time", "5"] + arguments,
            environment: ProcessInfo.processInfo.environment, seconds: 30)
        return (result.status, result.output + result.error)
    }

    /// Whether this process can run clients as other UIDs.
    public static let canSwitchUsers = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/curl")
}
