#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A blocking TCP client on loopback for requests no well-behaved HTTP client would send.
public final class RawSocket: @unchecked Sendable {
    public let fd: Int32

    public init(port: Int, host: String = "127.0.0.1", timeoutSeconds: Int = 20) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            // No close here: a class whose initializer throws after every property is set still runs its
            // deinit, which closes `fd`. Closing twice would close whatever descriptor another test got next.
            throw TestSupportError("connect to 127.0.0.1:\(port) failed: errno \(errno)")
        }
    }

    deinit { close(fd) }

    public func send(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// One read: what the peer has sent so far (one response, for a peer that answers in one write), or "".
    public func readSome() -> String {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
    }

    /// Reads until what arrived contains `marker`, the peer closes or the timeout passes; returns what arrived.
    public func readUntil(_ marker: String) -> String {
        var seen = ""
        while !seen.contains(marker) {
            let more = readSome()
            if more.isEmpty { break }
            seen += more
        }
        return seen
    }

    /// Reads until the peer closes or `timeout` passes; returns what arrived and whether the peer closed.
    public func readAll() -> (text: String, closed: Bool) {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                out.append(contentsOf: buffer[0..<n])
                continue
            }
            return (String(decoding: out, as: UTF8.self), n == 0 || errno == ECONNRESET)
        }
    }
}

/// Runs blocking work (socket reads, child processes) on its own thread, so it never occupies one of the
/// few threads of Swift's cooperative pool that the router under test also needs.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.start()
    }
}
