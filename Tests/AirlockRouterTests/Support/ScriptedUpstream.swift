#if canImport(Glibc)
import Glibc
#endif
import AirlockTestSupport
import Foundation
import Synchronization

/// An upstream that answers each request with bytes the test wrote by hand: status lines, headers and
/// framing no real HTTP library would produce. Listens on loopback; each connection is served on its own
/// thread and reads request after request (keep-alive) until the router closes it. Bounded: `stop()` closes
/// the listener and every connection.
final class ScriptedUpstream: Sendable {
    let port: Int
    private let listenFD: Int32
    private let state = Mutex(State())
    /// The answer to the n-th request, in pieces sent 300 ms apart (one piece: sent at once).
    private let respond: @Sendable (Int) -> [[UInt8]]

    struct State {
        var connections = 0
        var requests = 0
        var fds: [Int32] = []
        var stopped = false
        /// Each request's head and body as received, in order.
        var received: [String] = []
    }

    /// `respond(n)` gives the raw bytes for the n-th request (0-based, across connections).
    convenience init(respond: @escaping @Sendable (Int) -> [UInt8]) {
        self.init(pieces: { [respond($0)] })
    }

    /// `pieces(n)` gives the raw bytes for the n-th request in pieces, each its own send after a pause, so the
    /// router reads them in separate bursts.
    init(pieces: @escaping @Sendable (Int) -> [[UInt8]]) {
        let (fd, port) = Loopback.listener()
        listenFD = fd
        self.port = port
        self.respond = pieces
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    convenience init(_ text: @escaping @Sendable (Int) -> String) {
        self.init(respond: { Array(text($0).utf8) })
    }

    var connections: Int { state.withLock { $0.connections } }
    var requests: Int { state.withLock { $0.requests } }
    /// Each request's head (lowercased) and body, in order.
    var received: [String] { state.withLock { $0.received } }

    func stop() {
        let fds = state.withLock { s in
            s.stopped = true
            return s.fds
        }
        shutdown(listenFD, Int32(SHUT_RDWR))
        for fd in fds { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop() {
        while true {
            let fd = accept(listenFD, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                break
            }
            let keep = state.withLock { s in
                guard !s.stopped else { return false }
                s.connections += 1
                s.fds.append(fd)
                return true
            }
            guard keep else {
                close(fd)
                break
            }
            let thread = Thread { [self] in serve(fd) }
            thread.start()
        }
        close(listenFD)
    }

    private func serve(_ fd: Int32) {
        var tv = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        let terminator: [UInt8] = [13, 10, 13, 10]
        outer: while true {
            // One request: a head, then Content-Length bytes of body.
            var headEnd: Int?
            while headEnd == nil {
                if let range = Self.find(terminator, in: pending) {
                    headEnd = range
                    break
                }
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break outer }
                pending.append(contentsOf: buffer[0..<n])
            }
            guard let end = headEnd else { break }
            let head = String(decoding: pending[0..<end], as: UTF8.self).lowercased()
            var length = 0
            for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
                length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
            }
            let total = end + 4 + length
            while pending.count < total {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break outer }
                pending.append(contentsOf: buffer[0..<n])
            }
            let request = head + "\r\n\r\n" + String(decoding: pending[(end + 4)..<total], as: UTF8.self)
            pending.removeFirst(total)
            let index = state.withLock { s in
                defer { s.requests += 1 }
                s.received.append(request)
                return s.requests
            }
            for (i, piece) in respond(index).enumerated() {
                if i > 0 { usleep(300_000) }
                let sent = piece.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if sent < 0 { break outer }
            }
        }
        // Forgotten before it is closed, so stop() never shuts down a descriptor number reused elsewhere.
        state.withLock { s in s.fds.removeAll { $0 == fd } }
        close(fd)
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }

    /// A well-formed chat completion answer with the given usage object.
    static func chatAnswer(usage: String = #"{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}"#) -> String {
        let body = #"{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":"#
            + usage + "}"
        return "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
    }
}
