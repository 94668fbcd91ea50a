/// A parsed upstream `base_url`: scheme, host, port and an optional path prefix.
public struct UpstreamURL: Sendable, Equatable {
    public var tls: Bool
    public var host: String
    public var port: Int
    /// Path prefix without a trailing slash ("" or e.g. "/proxy").
    public var pathPrefix: String

    public struct Problem: Error, Sendable, Equatable {
        public var message: String
        public var hint: String
    }

    /// The origin and prefix, e.g. `https://api.openai.com` or `http://127.0.0.1:9901/prefix`.
    public var base: String {
        let defaultPort = tls ? 443 : 80
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "\(tls ? "https" : "http")://\(hostPart)\(port == defaultPort ? "" : ":\(port)")\(pathPrefix)"
    }

    public static func parse(_ text: String) -> Result<UpstreamURL, Problem> {
        func fail(_ m: String, _ h: String) -> Result<UpstreamURL, Problem> { .failure(Problem(message: m, hint: h)) }
        let tls: Bool
        var rest: Substring
        if text.hasPrefix("https://") {
            tls = true
            rest = text.dropFirst(8)
        } else if text.hasPrefix("http://") {
            tls = false
            rest = text.dropFirst(7)
        } else {
            return fail("\"\(text)\" is not an http or https URL", "Write e.g. https://api.openai.com.")
        }
        if rest.contains(where: { $0 == "?" || $0 == "#" || $0 == "@" || $0.isWhitespace }) {
            return fail("\"\(text)\" has a query, fragment, user info or space", "Give only scheme, host, port and an optional path prefix.")
        }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<slash]
        var prefix = String(rest[slash...])
        while prefix.hasSuffix("/") { prefix.removeLast() }
        var host: Substring
        var port = tls ? 443 : 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                return fail("\"\(text)\" has an unclosed [", "Write IPv6 hosts as [::1].")
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            authority = authority[authority.index(after: close)...]
            if !authority.isEmpty {
                guard authority.hasPrefix(":"), let p = Int(authority.dropFirst()), (1...65535).contains(p) else {
                    return fail("\"\(text)\" has a bad port", "Use a port from 1 to 65535.")
                }
                port = p
            }
        } else if let colon = authority.firstIndex(of: ":") {
            host = authority[..<colon]
            guard let p = Int(authority[authority.index(after: colon)...]), (1...65535).contains(p) else {
                return fail("\"\(text)\" has a bad port", "Use a port from 1 to 65535.")
            }
            port = p
        } else {
            host = authority
        }
        if host.isEmpty {
            return fail("\"\(text)\" has no host", "Write e.g. https://api.openai.com.")
        }
        let lowered = host.lowercased()
        if !tls && LoopbackAddress.refusal(lowered) != nil && lowered != "localhost" {
            return fail("\"\(text)\" sends credentials in clear text to a non-loopback host", "Use https; plain http is allowed for loopback upstreams only.")
        }
        return .success(UpstreamURL(tls: tls, host: lowered, port: port, pathPrefix: prefix))
    }
}
