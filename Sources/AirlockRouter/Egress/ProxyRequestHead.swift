import AirlockPolicy

/// The head of a request to the egress proxy, parsed by hand: the proxy relays bytes, so it reads exactly the
/// head and nothing more, and never interprets what follows.
struct ProxyRequestHead: Sendable {
    enum Form: Sendable, Equatable {
        /// `CONNECT host:port HTTP/1.1`: a tunnel.
        case connect
        /// `GET http://host[:port]/path HTTP/1.1`: one plain-HTTP request forwarded in origin form.
        case forward(method: String, path: String)
    }

    var form: Form
    var target: EgressTarget
    var version: String
    /// Header lines as received, except hop-by-hop and proxy headers.
    var headers: [(name: String, value: String)]

    static let maxHeadBytes = 16 << 10

    struct Refusal: Error, Sendable {
        var status: Int
        var reason: String
        var message: String
    }

    /// Parses the bytes before the blank line.
    static func parse(_ bytes: [UInt8]) throws(Refusal) -> ProxyRequestHead {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw Refusal(status: 400, reason: "malformed_request", message: "the request head is not UTF-8")
        }
        // "\r\n" is a single Character in Swift, so this splits on CRLF exactly.
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
        guard !lines.isEmpty else { throw Refusal(status: 400, reason: "malformed_request", message: "empty request") }
        let requestLine = lines.removeFirst().split(separator: " ", omittingEmptySubsequences: false)
        guard requestLine.count == 3, requestLine[2] == "HTTP/1.1" || requestLine[2] == "HTTP/1.0" else {
            throw Refusal(status: 400, reason: "malformed_request", message: "expected METHOD TARGET HTTP/1.1")
        }
        var headers: [(String, String)] = []
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":"), colon > line.startIndex,
                !line[..<colon].contains(where: { $0 == " " || $0 == "\t" })
            else {
                throw Refusal(status: 400, reason: "malformed_request", message: "malformed header line")
            }
            let name = String(line[..<colon])
            let value = line[line.index(after: colon)...].trimmedOWS()
            guard !value.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) else {
                throw Refusal(status: 400, reason: "malformed_request", message: "a header value contains CR, LF or NUL")
            }
            let lower = name.lowercased()
            if lower.hasPrefix("proxy-") || lower == "connection" || lower == "keep-alive" || lower == "upgrade" { continue }
            headers.append((name, value))
        }
        let method = String(requestLine[0])
        let uri = String(requestLine[1])
        if method == "CONNECT" {
            guard let target = EgressTarget.parse(authority: uri) else {
                throw Refusal(status: 400, reason: "malformed_target", message: "CONNECT needs host:port")
            }
            return ProxyRequestHead(form: .connect, target: target, version: String(requestLine[2]), headers: headers)
        }
        guard uri.lowercased().hasPrefix("http://") else {
            throw Refusal(
                status: 400,
                reason: "malformed_target",
                message: "this proxy forwards absolute http:// URLs and tunnels CONNECT; https goes through CONNECT"
            )
        }
        let rest = uri.dropFirst(7)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        guard !authority.contains("@"), let target = EgressTarget.parse(authority: String(authority), defaultPort: 80) else {
            throw Refusal(status: 400, reason: "malformed_target", message: "the URL's host is not usable")
        }
        let path = slash == rest.endIndex ? "/" : String(rest[slash...])
        // The origin is told the authority that was checked and nothing else (no domain fronting): the agent's own
        // Host is replaced, and two of them are refused rather than guessed between.
        let hosts = headers.filter { $0.0.lowercased() == "host" }
        guard hosts.count <= 1 else {
            throw Refusal(status: 400, reason: "malformed_request", message: "the request has more than one Host header")
        }
        headers.removeAll { $0.0.lowercased() == "host" }
        headers.insert(("Host", String(authority)), at: 0)
        return ProxyRequestHead(form: .forward(method: method, path: path), target: target, version: String(requestLine[2]), headers: headers)
    }

    /// The request head to send to the origin for plain-HTTP forwarding (origin form, connection closed after).
    func originHead() -> [UInt8] {
        guard case .forward(let method, let path) = form else { return [] }
        var out = "\(method) \(path) HTTP/1.1\r\n"
        for (name, value) in headers { out += "\(name): \(value)\r\n" }
        out += "Connection: close\r\n\r\n"
        return Array(out.utf8)
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (HTTP optional whitespace).
    func trimmedOWS() -> String {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
