import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A deliberately small blocking HTTP/1.1 client over a real loopback socket, with a receive timeout on every read,
/// so tests can observe byte-level behaviour (delays, resets, hangs) that a full client would hide.
final class TestConnection {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The outcome of one `recv`.
    enum ReadError: Error, Equatable {
        case timedOut
        case reset
        case closed
        case other(Int32)
    }

    private let fd: Int32
    private var buffer: [UInt8] = []
    private var isClosed = false

    init(port: Int, timeout: Duration = .seconds(5)) throws {
        self.fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard self.fd >= 0 else { throw Failure(description: "socket() failed: errno \(errno)") }
        self.setTimeout(timeout)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(self.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            // Through close(), so the deinit that still runs after a throwing initializer does not close again.
            self.close()
            throw Failure(description: "connect to 127.0.0.1:\(port) failed: errno \(errno)")
        }
    }

    deinit {
        self.close()
    }

    func setTimeout(_ timeout: Duration) {
        let (seconds, attoseconds) = timeout.components
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(self.fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    func close() {
        guard !self.isClosed else { return }
        self.isClosed = true
        Glibc.close(self.fd)
    }

    func send(_ text: String) throws {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let sent = bytes.withUnsafeBytes { Glibc.send(self.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw Failure(description: "send failed: errno \(errno)") }
            bytes = bytes.dropFirst(sent)
        }
    }

    /// Sends one request with `Content-Length` framing.
    func sendRequest(_ method: String, _ path: String, headers: [String: String] = [:], body: String? = nil) throws {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (name, value) in headers {
            text += "\(name): \(value)\r\n"
        }
        if let body {
            text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
        }
        text += "\r\n" + (body ?? "")
        try self.send(text)
    }

    /// Reads more bytes into the buffer.
    func fill() throws(ReadError) {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
        if count > 0 {
            self.buffer.append(contentsOf: chunk[0..<count])
            return
        }
        if count == 0 { throw .closed }
        switch errno {
        case EAGAIN, EWOULDBLOCK: throw .timedOut
        case ECONNRESET: throw .reset
        case let code: throw .other(code)
        }
    }

    /// Reads the response head.
    func readHead() throws -> TestResponseHead {
        let separator: [UInt8] = [13, 10, 13, 10]
        while true {
            if let end = self.buffer.firstRange(of: separator) {
                let text = String(decoding: self.buffer[..<end.lowerBound], as: UTF8.self)
                self.buffer.removeSubrange(..<end.upperBound)
                return try TestResponseHead(parsing: text)
            }
            try self.fill()
        }
    }

    /// Reads exactly `count` bytes, or as many as arrive before an error (returned alongside it).
    func readExactly(_ count: Int) -> (bytes: [UInt8], error: ReadError?) {
        while self.buffer.count < count {
            do {
                try self.fill()
            } catch {
                let bytes = self.buffer
                self.buffer.removeAll()
                return (bytes, error)
            }
        }
        let bytes = Array(self.buffer[..<count])
        self.buffer.removeSubrange(..<count)
        return (bytes, nil)
    }

    /// Reads one chunk of a chunked body; `nil` at the terminating zero-length chunk.
    func readChunk() throws -> [UInt8]? {
        let crlf: [UInt8] = [13, 10]
        var lineEnd = self.buffer.firstRange(of: crlf)
        while lineEnd == nil {
            try self.fill()
            lineEnd = self.buffer.firstRange(of: crlf)
        }
        let sizeText = String(decoding: self.buffer[..<lineEnd!.lowerBound], as: UTF8.self)
        guard let size = Int(sizeText.split(separator: ";")[0], radix: 16) else {
            throw Failure(description: "bad chunk size line: \(sizeText)")
        }
        self.buffer.removeSubrange(..<lineEnd!.upperBound)
        let (bytes, error) = self.readExactly(size + 2)
        if let error { throw error }
        return size == 0 ? nil : Array(bytes.dropLast(2))
    }

    /// Reads a whole body framed by the head's `content-length` or chunked encoding.
    func readBody(_ head: TestResponseHead) throws -> String {
        if let length = head.header("content-length").flatMap(Int.init) {
            let (bytes, error) = self.readExactly(length)
            if let error { throw error }
            return String(decoding: bytes, as: UTF8.self)
        }
        var body: [UInt8] = []
        while let chunk = try self.readChunk() {
            body += chunk
        }
        return String(decoding: body, as: UTF8.self)
    }

    /// Sends a request and reads the whole response.
    func exchange(
        _ method: String,
        _ path: String,
        headers: [String: String] = [:],
        body: String? = nil
    ) throws -> TestResponse {
        try self.sendRequest(method, path, headers: headers, body: body)
        let head = try self.readHead()
        return TestResponse(head: head, body: try self.readBody(head))
    }
}
