/// A witness submission prefix `http://host:port[/path]`, split for a client. Plain HTTP only: the witness listens on
/// loopback, and another host is reached through a proxy the operator runs.
public struct WitnessURL: Sendable, Hashable {
    public let host: String
    public let port: Int
    /// The path prefix without a trailing slash (empty for none).
    public let path: String

    public init?(_ text: String) {
        guard text.hasPrefix("http://") else { return nil }
        let rest = text.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        var path = String(rest.dropFirst(authority.count))
        while path.hasSuffix("/") { path.removeLast() }
        let host: Substring
        let portText: Substring
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            guard after.hasPrefix(":") else { return nil }
            portText = after.dropFirst()
        } else {
            guard let colon = authority.lastIndex(of: ":") else { return nil }
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (1...65535).contains(port),
            !path.contains(where: { $0 == "?" || $0 == "#" || $0 == " " })
        else { return nil }
        self.host = String(host)
        self.port = port
        self.path = path
    }
}
