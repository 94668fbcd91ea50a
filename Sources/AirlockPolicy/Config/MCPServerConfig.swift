/// One MCP server the router serves to sandboxes at `/mcp/<name>` (Streamable HTTP): a remote one at `url`,
/// configured like an upstream (`https`, plain `http` for loopback only, TLS verified, redirects never followed),
/// or a local one the router launches as `command` in a sandbox of its own (`stdio`).
public struct MCPServerConfig: Decodable, Sendable, Equatable {
    public var name: String
    /// The server's MCP endpoint, e.g. `https://tickets.example.com/mcp`; empty for a `command` server.
    public var url: String
    /// A local server: the command the router launches per MCP session, and how; nil for a remote server.
    public var stdio: MCPStdioSettings?
    /// The router's credential for the server; the agent never holds it.
    public var credential: MCPCredential?
    /// An OAuth 2.1 grant the router runs for an access token (instead of `credential`).
    public var oauth: MCPOAuth?
    /// PEM bundle to trust instead of the system roots.
    public var caFile: String?
    public var timeouts: UpstreamTimeouts
    public var breaker: BreakerSettings
    /// Longest answer the router reads whole to filter it (`tools/list`); a longer one is refused (502).
    public var maxListBytes: Int

    public static let defaultMaxListBytes = 4 << 20

    enum CodingKeys: String, CodingKey {
        case name, url, credential, oauth, timeouts, breaker, command
        case caFile = "ca_file"
        case maxListBytes = "max_list_bytes"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        let url = try c.decodeIfPresent(String.self, forKey: .url)
        let command = try c.decodeIfPresent([String].self, forKey: .command)
        switch (url, command) {
        case (let url?, nil):
            self.url = url
            stdio = nil
        case (nil, .some):
            self.url = ""
            stdio = try MCPStdioSettings(from: decoder)
        default:
            throw DecodingError.dataCorrupted(
                .init(codingPath: c.codingPath, debugDescription: "an MCP server needs exactly one of `url` or `command`")
            )
        }
        credential = try c.decodeIfPresent(MCPCredential.self, forKey: .credential)
        oauth = try c.decodeIfPresent(MCPOAuth.self, forKey: .oauth)
        caFile = try c.decodeIfPresent(String.self, forKey: .caFile)
        timeouts = try c.decodeIfPresent(UpstreamTimeouts.self, forKey: .timeouts) ?? UpstreamTimeouts()
        breaker = try c.decodeIfPresent(BreakerSettings.self, forKey: .breaker) ?? BreakerSettings()
        maxListBytes = try c.decodeIfPresent(Int.self, forKey: .maxListBytes) ?? Self.defaultMaxListBytes
    }

    public init(
        name: String,
        url: String,
        credential: MCPCredential? = nil,
        oauth: MCPOAuth? = nil,
        caFile: String? = nil,
        timeouts: UpstreamTimeouts = UpstreamTimeouts(),
        breaker: BreakerSettings = BreakerSettings(),
        maxListBytes: Int = MCPServerConfig.defaultMaxListBytes,
        stdio: MCPStdioSettings? = nil
    ) {
        self.name = name
        self.url = url
        self.stdio = stdio
        self.credential = credential
        self.oauth = oauth
        self.caFile = caFile
        self.timeouts = timeouts
        self.breaker = breaker
        self.maxListBytes = maxListBytes
    }
}

/// A local (stdio) MCP server: the router launches `command` with `airlock run --sandbox <sandbox>` (its own
/// namespaces, view and egress allowlist), one process per MCP session, and bridges it to `/mcp/<name>`.
public struct MCPStdioSettings: Sendable, Equatable {
    /// The program (an absolute path, as seen inside the server's sandbox) and its arguments.
    public var command: [String]
    /// The `sandboxes` entry the server runs as: its egress allowlist, and the UID (its first `uids`) when root.
    public var sandbox: String
    /// The sandbox policy file (`airlock run --policy`); nil: the built-in policy.
    public var policy: String?
    /// Environment variables given to the server only (never to agents, never logged), read by the router like
    /// every other credential.
    public var environment: [String: CredentialSource]
    /// Server processes alive at once (one per session); an `initialize` beyond is answered 503.
    public var maxSessions: Int
    /// A session without a new request for this long ends (a call still waiting included), and its process with it.
    public var idleTimeout: ConfigDuration

    public static let defaultMaxSessions = 8
    public static let defaultIdleTimeout = ConfigDuration.seconds(600)

    enum CodingKeys: String, CodingKey {
        case command, sandbox, policy, env
        case maxSessions = "max_sessions"
        case idleTimeout = "idle_timeout"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        command = try c.decode([String].self, forKey: .command)
        sandbox = try c.decode(String.self, forKey: .sandbox)
        policy = try c.decodeIfPresent(String.self, forKey: .policy)
        let env = try c.decodeIfPresent([String: UpstreamConfig.CredentialKeys].self, forKey: .env) ?? [:]
        var environment: [String: CredentialSource] = [:]
        for (name, keys) in env {
            environment[name] = try CredentialSource.decode(file: keys.file, env: keys.env, codingPath: c.codingPath + [CodingKeys.env])
        }
        self.environment = environment
        maxSessions = try c.decodeIfPresent(Int.self, forKey: .maxSessions) ?? Self.defaultMaxSessions
        idleTimeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .idleTimeout) ?? Self.defaultIdleTimeout
    }

    public init(
        command: [String],
        sandbox: String,
        policy: String? = nil,
        environment: [String: CredentialSource] = [:],
        maxSessions: Int = MCPStdioSettings.defaultMaxSessions,
        idleTimeout: ConfigDuration = MCPStdioSettings.defaultIdleTimeout
    ) {
        self.command = command
        self.sandbox = sandbox
        self.policy = policy
        self.environment = environment
        self.maxSessions = maxSessions
        self.idleTimeout = idleTimeout
    }
}

/// A static credential header for an MCP server: `header: scheme secret` (`Authorization: Bearer …` by default),
/// the secret read from a router-owned file or the router's environment.
public struct MCPCredential: Decodable, Sendable, Equatable {
    public var source: CredentialSource
    /// Lowercase header name.
    public var header: String
    /// Put before the secret with one space; empty for none.
    public var scheme: String

    enum CodingKeys: String, CodingKey {
        case file, env, header, scheme
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        source = try CredentialSource.decode(
            file: c.decodeIfPresent(String.self, forKey: .file),
            env: c.decodeIfPresent(String.self, forKey: .env),
            codingPath: c.codingPath
        )
        header = try (c.decodeIfPresent(String.self, forKey: .header) ?? "authorization").lowercased()
        scheme = try c.decodeIfPresent(String.self, forKey: .scheme) ?? (header == "authorization" ? "Bearer" : "")
    }

    public init(source: CredentialSource, header: String = "authorization", scheme: String = "Bearer") {
        self.source = source
        self.header = header
        self.scheme = scheme
    }
}

/// An OAuth 2.1 grant the router runs against the server's authorization server, for an access token it sends as
/// `Authorization: Bearer` (with `resource` = the server's URL, RFC 8707, as the MCP authorization spec asks).
public struct MCPOAuth: Decodable, Sendable, Equatable {
    public enum Grant: String, ConfigEnum {
        case clientCredentials = "client_credentials"
        case refreshToken = "refresh_token"
    }

    /// The token endpoint: `https` (plain `http` for loopback only), TLS verified, no redirects.
    public var tokenURL: String
    public var grant: Grant
    public var clientID: String
    /// Sent with HTTP Basic authentication; required for `client_credentials`.
    public var clientSecret: CredentialSource?
    /// The refresh token the `refresh_token` grant starts from; a rotated one replaces it in memory.
    public var refreshToken: CredentialSource?
    public var scope: String?

    enum CodingKeys: String, CodingKey {
        case grant, scope
        case tokenURL = "token_url"
        case clientID = "client_id"
        case clientSecret = "client_secret"
        case refreshToken = "refresh_token"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        tokenURL = try c.decode(String.self, forKey: .tokenURL)
        grant = try c.decode(Grant.self, forKey: .grant)
        clientID = try c.decode(String.self, forKey: .clientID)
        func source(_ key: CodingKeys) throws -> CredentialSource? {
            guard let keys = try c.decodeIfPresent(UpstreamConfig.CredentialKeys.self, forKey: key) else { return nil }
            return try CredentialSource.decode(file: keys.file, env: keys.env, codingPath: c.codingPath + [key])
        }
        clientSecret = try source(.clientSecret)
        refreshToken = try source(.refreshToken)
        scope = try c.decodeIfPresent(String.self, forKey: .scope)
    }

    public init(
        tokenURL: String,
        grant: Grant,
        clientID: String,
        clientSecret: CredentialSource? = nil,
        refreshToken: CredentialSource? = nil,
        scope: String? = nil
    ) {
        self.tokenURL = tokenURL
        self.grant = grant
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.refreshToken = refreshToken
        self.scope = scope
    }
}

/// What one sandbox may do with one MCP server.
public struct MCPAccess: Decodable, Sendable, Equatable {
    /// A name from `mcp_servers`.
    public var server: String
    /// Tool names or patterns (`*` matches any run of characters) the sandbox may see and call; `["*"]` for all.
    public var tools: [String]
    /// Tool name → SHA-256 (lowercase hex) of its definition: a tool whose definition differs is refused.
    public var pins: [String: String]
    /// Requests per second of this sandbox to this server; nil: only the sandbox's own rate applies.
    public var rate: RateSettings?

    enum CodingKeys: String, CodingKey {
        case server, tools, pins, rate
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        server = try c.decode(String.self, forKey: .server)
        tools = try c.decode([String].self, forKey: .tools)
        pins = try c.decodeIfPresent([String: String].self, forKey: .pins) ?? [:]
        rate = try c.decodeIfPresent(RateSettings.self, forKey: .rate)
    }

    public init(server: String, tools: [String], pins: [String: String] = [:], rate: RateSettings? = nil) {
        self.server = server
        self.tools = tools
        self.pins = pins
        self.rate = rate
    }

    /// Whether `tool` is on this sandbox's list for the server.
    public func allows(tool: String) -> Bool {
        tools.contains { ToolPattern.matches($0, tool) }
    }
}

/// Tool-name patterns: `*` matches any run of characters (none included); everything else matches itself.
public enum ToolPattern {
    public static func matches(_ pattern: String, _ name: String) -> Bool {
        let p = Array(pattern.utf8)
        let n = Array(name.utf8)
        // Iterative wildcard match with one backtrack point: linear in practice, never exponential.
        var i = 0
        var j = 0
        var star = -1
        var mark = 0
        while j < n.count {
            if i < p.count && p[i] == UInt8(ascii: "*") {
                star = i
                mark = j
                i += 1
            } else if i < p.count && p[i] == n[j] {
                i += 1
                j += 1
            } else if star >= 0 {
                i = star + 1
                mark += 1
                j = mark
            } else {
                return false
            }
        }
        while i < p.count && p[i] == UInt8(ascii: "*") { i += 1 }
        return i == p.count
    }
}
