/// One host whose HTTPS the egress proxy terminates (`egress.inspect[]`): the proxy answers the agent's CONNECT with
/// a certificate from the router's CA, reads each HTTP/1.1 request, lets through only what `rules` allow, adds the
/// router's credential, and sends it over its own verified TLS connection to the real host.
public struct EgressInspect: Decodable, Sendable, Equatable {
    /// A host pattern as in `allow` (`host`, `host:port`, `*.suffix`); the target must also be allowed by `allow`.
    public var host: String
    /// Requests that may pass; anything else is refused with 403. Empty: every request is refused.
    public var rules: [EgressHTTPRule]
    /// Added to every allowed request; what the agent sent in its place is dropped.
    public var credential: EgressCredential?
    /// PEM bundle to verify the real host against instead of the system roots.
    public var caFile: String?

    enum CodingKeys: String, CodingKey {
        case host, rules, credential
        case caFile = "ca_file"
    }

    public init(host: String, rules: [EgressHTTPRule], credential: EgressCredential? = nil, caFile: String? = nil) {
        self.host = host
        self.rules = rules
        self.credential = credential
        self.caFile = caFile
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        host = try c.decode(String.self, forKey: .host)
        rules = try c.decodeIfPresent([EgressHTTPRule].self, forKey: .rules) ?? []
        credential = try c.decodeIfPresent(EgressCredential.self, forKey: .credential)
        caFile = try c.decodeIfPresent(String.self, forKey: .caFile)
    }
}

/// Methods and paths one rule allows: `{methods: [GET, POST], paths: ["/repos/acme/*"]}`.
public struct EgressHTTPRule: Decodable, Sendable, Equatable {
    /// Upper-case method names, or `*` for any.
    public var methods: [String]
    /// Path patterns, matched against the path without its query: `*` matches any run of characters, `/` included.
    public var paths: [String]

    enum CodingKeys: String, CodingKey { case methods, paths }

    public init(methods: [String], paths: [String]) {
        self.methods = methods
        self.paths = paths
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        methods = try c.decode([String].self, forKey: .methods)
        paths = try c.decode([String].self, forKey: .paths)
    }

    /// Whether this rule allows `method` on `path` (already checked for dot segments and encoded separators).
    public func allows(method: String, path: String) -> Bool {
        guard methods.contains("*") || methods.contains(method) else { return false }
        return paths.contains { Self.glob(Array($0.utf8)[...], Array(path.utf8)[...]) }
    }

    /// `*` matches any run of bytes; every other byte matches itself.
    static func glob(_ pattern: ArraySlice<UInt8>, _ text: ArraySlice<UInt8>) -> Bool {
        var p = pattern.startIndex
        var t = text.startIndex
        var star: Int?
        var resume = t
        while t < text.endIndex {
            if p < pattern.endIndex, pattern[p] == UInt8(ascii: "*") {
                star = p
                p += 1
                resume = t
            } else if p < pattern.endIndex, pattern[p] == text[t] {
                p += 1
                t += 1
            } else if let s = star {
                p = s + 1
                resume += 1
                t = resume
            } else {
                return false
            }
        }
        while p < pattern.endIndex, pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.endIndex
    }
}

/// The header the proxy adds to an inspected host's requests, its secret from a router-owned file or the router's
/// environment: `Authorization: Bearer <secret>`, or `Authorization: Basic base64(<secret>)` where the secret is
/// `user:password` (git over HTTPS, package indexes).
public struct EgressCredential: Decodable, Sendable, Equatable {
    public enum Scheme: String, ConfigEnum {
        case bearer
        case basic
    }

    public var source: CredentialSource
    public var scheme: Scheme

    enum CodingKeys: String, CodingKey { case file, env, scheme }

    public init(source: CredentialSource, scheme: Scheme = .bearer) {
        self.source = source
        self.scheme = scheme
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        source = try CredentialSource.decode(
            file: c.decodeIfPresent(String.self, forKey: .file),
            env: c.decodeIfPresent(String.self, forKey: .env),
            codingPath: c.codingPath
        )
        scheme = try c.decodeIfPresent(Scheme.self, forKey: .scheme) ?? .bearer
    }
}

/// The compiled inspection entries of one sandbox.
public struct EgressInspection: Sendable {
    public struct Entry: Sendable {
        public var index: Int
        public var pattern: HostPattern
        public var policy: EgressInspect
    }

    public var entries: [Entry]

    public init(_ policy: EgressPolicy) {
        entries = policy.inspect.enumerated().compactMap { index, entry in
            (try? HostPattern.parse(entry.host).get()).map { Entry(index: index, pattern: $0, policy: entry) }
        }
    }

    /// The first entry whose host pattern matches `target`, if any.
    public func entry(for target: EgressTarget) -> Entry? {
        entries.first { $0.pattern.matches(target) }
    }

    public enum Verdict: Sendable, Equatable {
        /// Allowed by `rules[rule]`.
        case allowed(rule: Int)
        case refused(reason: String, message: String)
    }

    /// The decision on one request. `target` is the request-target as the agent sent it (origin form).
    public static func decide(_ entry: EgressInspect, method: String, target: String) -> Verdict {
        guard target.hasPrefix("/") else {
            return .refused(reason: "path_not_allowed", message: "the request target must be a path (origin form), not \"\(target.prefix(64))\"")
        }
        let path = String(target.prefix { $0 != "?" && $0 != "#" })
        // A path that means something else after the origin normalises it could pass a rule it does not belong to.
        let lower = path.lowercased()
        if lower.contains("%2f") || lower.contains("%5c") || lower.contains("%2e") || lower.contains("\\") {
            return .refused(reason: "path_not_allowed", message: "the path contains an encoded separator or dot, which the rules cannot judge")
        }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        if segments.contains(where: { $0 == "." || $0 == ".." }) {
            return .refused(reason: "path_not_allowed", message: "the path contains a . or .. segment")
        }
        var methodAllowedSomewhere = false
        for (index, rule) in entry.rules.enumerated() {
            if rule.allows(method: method, path: path) { return .allowed(rule: index) }
            if rule.methods.contains("*") || rule.methods.contains(method) { methodAllowedSomewhere = true }
        }
        if !methodAllowedSomewhere {
            return .refused(reason: "method_not_allowed", message: "\(method) is not allowed on \(entry.host) by this sandbox's egress rules")
        }
        return .refused(reason: "path_not_allowed", message: "\(method) \(path.prefix(200)) is not allowed on \(entry.host) by this sandbox's egress rules")
    }
}
