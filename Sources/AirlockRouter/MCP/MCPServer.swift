import AirlockPolicy

/// One configured MCP server at run time: where it is, the router's credential for it, its circuit breaker and
/// the tool definitions it last listed.
final class MCPServer: Sendable {
    let config: MCPServerConfig
    let origin: UpstreamOrigin
    /// The request target: the path of the configured URL.
    let target: String
    /// The header that carries the router's credential, and its value; nil for a server without one.
    let credentialHeader: CredentialHeader?
    /// Shared with the server of the same name after a reload that changed neither its URL nor its breaker settings.
    let breaker: Locked<CircuitBreaker<ContinuousClock.Instant>>
    /// Tool name → digest of its definition as the server last listed it; kept across reloads of the same URL.
    let listed: Locked<[String: String]>

    struct CredentialHeader: Sendable {
        let name: String
        let value: String
    }

    /// Key of the server's credential among the router's credentials (upstream names have no '/').
    static func credentialKey(_ name: String) -> String { "mcp_servers/\(name)" }

    init(config: MCPServerConfig, url: UpstreamURL, credential: Credential?, previous: MCPServer?) {
        self.config = config
        origin = UpstreamOrigin(
            tls: url.tls,
            host: url.host,
            port: url.port,
            caFile: config.caFile,
            connectTimeout: config.timeouts.connect.nanoseconds
        )
        target = url.pathPrefix.isEmpty ? "/" : url.pathPrefix
        if let credential, let header = config.credential {
            let value = header.scheme.isEmpty ? credential.secret : "\(header.scheme) \(credential.secret)"
            credentialHeader = CredentialHeader(name: header.header, value: value)
        } else {
            credentialHeader = nil
        }
        let same = previous.flatMap { $0.config.url == config.url ? $0 : nil }
        breaker = Locked.breaker(config.breaker, previous: same?.config.breaker == config.breaker ? same?.breaker : nil)
        listed = same?.listed ?? Locked([:])
    }

    var host: String { origin.host }
}

/// The MCP servers and the per-sandbox, per-server rate limits, rebuilt on reload from the previous ones.
final class MCPServers: Sendable {
    typealias Bucket = TokenBucket<ContinuousClock.Instant>
    let byName: [String: MCPServer]
    let client: UpstreamHTTPClient
    /// "sandbox/server" → bucket, for the sandboxes whose access names a rate.
    private let buckets: [String: Locked<Bucket>]

    init(config: AirlockConfig, credentials: [String: Credential], client: UpstreamHTTPClient, previous: MCPServers?) {
        var servers: [String: MCPServer] = [:]
        for server in config.mcpServers {
            // Validation parsed every URL; one that no longer parses is left out rather than trusted.
            guard case .success(let url) = UpstreamURL.parse(server.url) else { continue }
            servers[server.name] = MCPServer(
                config: server,
                url: url,
                credential: credentials[MCPServer.credentialKey(server.name)],
                previous: previous?.byName[server.name]
            )
        }
        byName = servers
        self.client = client
        let now = ContinuousClock.now
        var buckets: [String: Locked<Bucket>] = [:]
        for sandbox in config.sandboxes {
            for access in sandbox.mcp {
                guard let rate = access.rate else { continue }
                let key = "\(sandbox.name)/\(access.server)"
                buckets[key] = Limiters.bucket(rate: rate, now: now, previous: previous?.buckets[key])
            }
        }
        self.buckets = buckets
    }

    /// A 429 when `sandbox` has used up its rate for `server`.
    func admitRate(sandbox: String, server: String) -> RouterError? {
        guard let bucket = buckets["\(sandbox)/\(server)"] else { return nil }
        if case .limited(let wait) = bucket.withLock({ $0.take(now: ContinuousClock.now) }) {
            return Limiters.rateLimited(wait, scope: "sandbox \"\(sandbox)\" for MCP server \"\(server)\"")
        }
        return nil
    }
}

extension AirlockConfig {
    /// Every credential the router reads, by owner: upstream names, and ``MCPServer/credentialKey(_:)`` of MCP servers.
    var credentialSources: [(String, CredentialSource)] {
        upstreams.compactMap { upstream in upstream.credential.map { (upstream.name, $0) } }
            + mcpServers.compactMap { server in server.credential.map { (MCPServer.credentialKey(server.name), $0.source) } }
    }
}
