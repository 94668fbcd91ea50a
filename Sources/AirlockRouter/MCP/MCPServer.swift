import AirlockPolicy
import Logging

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
    /// The access token of a server with an `oauth` grant; kept across reloads that change neither URL nor grant.
    let tokens: MCPTokenSource?
    /// The sessions the server opened through this router, and the sandbox each belongs to; kept across reloads of
    /// the same URL.
    let sessions: Locked<MCPSessions>

    struct CredentialHeader: Sendable {
        let name: String
        let value: String
    }

    /// Key of the server's credential among the router's credentials (upstream names have no '/').
    static func credentialKey(_ name: String, _ part: String? = nil) -> String {
        part.map { "mcp_servers/\(name)/\($0)" } ?? "mcp_servers/\(name)"
    }

    /// The bridge of a local (`command`) server, which the relay reaches at `url`; nil for a remote server.
    let bridge: StdioBridge?

    init(
        config: MCPServerConfig, url: UpstreamURL, credentials: [String: Credential], previous: MCPServer?,
        bridge: StdioBridge? = nil
    ) {
        let credential = credentials[Self.credentialKey(config.name)]
        self.bridge = bridge
        self.config = config
        origin = UpstreamOrigin(
            tls: url.tls,
            host: url.host,
            port: url.port,
            caFile: config.caFile,
            connectTimeout: config.timeouts.connect.nanoseconds
        )
        target = url.pathPrefix.isEmpty ? "/" : url.pathPrefix
        if let bridge {
            credentialHeader = CredentialHeader(name: "authorization", value: "Bearer \(bridge.secret)")
        } else if let credential, let header = config.credential {
            let value = header.scheme.isEmpty ? credential.secret : "\(header.scheme) \(credential.secret)"
            credentialHeader = CredentialHeader(name: header.header, value: value)
        } else {
            credentialHeader = nil
        }
        let same = previous.flatMap { $0.config.url == config.url && $0.bridge === bridge ? $0 : nil }
        breaker = Locked.breaker(config.breaker, previous: same?.config.breaker == config.breaker ? same?.breaker : nil)
        listed = same?.listed ?? Locked([:])
        sessions = same?.sessions ?? Locked(MCPSessions())
        if let oauth = config.oauth, case .success(let tokenURL) = UpstreamURL.parse(oauth.tokenURL) {
            if let kept = same?.tokens, same?.config.oauth == oauth {
                tokens = kept
            } else {
                tokens = MCPTokenSource(
                    oauth: oauth,
                    url: tokenURL,
                    resource: config.url,
                    caFile: config.caFile,
                    timeouts: config.timeouts,
                    clientSecret: credentials[Self.credentialKey(config.name, "client_secret")]?.secret,
                    refreshToken: credentials[Self.credentialKey(config.name, "refresh_token")]?.secret
                )
            }
        } else {
            tokens = nil
        }
    }

    var host: String { origin.host }
}

/// Which sandbox each MCP session belongs to: the one whose request opened it (the server's `Mcp-Session-Id`
/// answer to a request that carried none). A session id is honoured only from that sandbox, so an id one sandbox
/// learns of (from a log, a shared file, a guess) does not let it act in another's session under the router's
/// credential. At most `capacity` sessions per server are remembered; the oldest is forgotten first, and its
/// sandbox then gets 404 and opens a new one, as the MCP transport specifies for a session a server no longer has.
struct MCPSessions: Sendable {
    static let capacity = 4_096
    private var owners: [String: String] = [:]
    /// Session ids in the order they were opened (an ended one stays here until it comes up for eviction).
    private var opened: [String] = []
    private var start = 0

    /// The sandbox `id` was opened for, or nil.
    func owner(of id: String) -> String? { owners[id] }

    mutating func open(_ id: String, for sandbox: String) {
        guard owners.updateValue(sandbox, forKey: id) == nil else { return }
        opened.append(id)
        while owners.count > Self.capacity, start < opened.count {
            owners[opened[start]] = nil
            start += 1
        }
        // Ended sessions leave ids behind here: compacted once they make up half the list, so it stays bounded.
        if opened.count - start > 2 * Self.capacity {
            opened = opened[start...].filter { owners[$0] != nil }
            start = 0
        } else if start > Self.capacity {
            opened.removeFirst(start)
            start = 0
        }
    }

    mutating func end(_ id: String) {
        owners[id] = nil
    }
}

/// The MCP servers and the per-sandbox, per-server rate limits, rebuilt on reload from the previous ones.
final class MCPServers: Sendable {
    typealias Bucket = TokenBucket<ContinuousClock.Instant>
    let byName: [String: MCPServer]
    let client: UpstreamHTTPClient
    /// "sandbox/server" → bucket, for the sandboxes whose access names a rate.
    private let buckets: [String: Locked<Bucket>]

    init(
        config: AirlockConfig, credentials: [String: Credential], client: UpstreamHTTPClient, previous: MCPServers?,
        logger: Logger
    ) {
        var servers: [String: MCPServer] = [:]
        var kept: Set<ObjectIdentifier> = []
        for server in config.mcpServers {
            var bridge: StdioBridge?
            var address = server.url
            if let stdio = server.stdio {
                let launch = StdioLaunch(config: config, server: server, stdio: stdio, credentials: credentials)
                if let old = previous?.byName[server.name]?.bridge, old.launch == launch {
                    bridge = old
                } else {
                    do {
                        bridge = try StdioBridge(name: server.name, launch: launch, group: client.group, logger: logger)
                    } catch {
                        logger.error(
                            "MCP server left out: its bridge could not listen",
                            metadata: ["mcp.server": "\(server.name)", "error": "\(error)"])
                        continue
                    }
                }
                if let bridge {
                    kept.insert(ObjectIdentifier(bridge))
                    address = "http://127.0.0.1:\(bridge.port)\(StdioBridge.path)"
                }
            }
            // Validation parsed every URL; one that no longer parses is left out rather than trusted.
            guard case .success(let url) = UpstreamURL.parse(address) else { continue }
            var effective = server
            effective.url = address
            servers[server.name] = MCPServer(
                config: effective,
                url: url,
                credentials: credentials,
                previous: previous?.byName[server.name],
                bridge: bridge
            )
        }
        // A local server removed or changed by a reload: its sessions end with its old bridge.
        for old in previous?.byName.values.compactMap(\.bridge) ?? [] where !kept.contains(ObjectIdentifier(old)) {
            Task { await old.shutdown() }
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

extension StdioLaunch {
    init(config: AirlockConfig, server: MCPServerConfig, stdio: MCPStdioSettings, credentials: [String: Credential]) {
        let sandbox = config.sandboxes.first { $0.name == stdio.sandbox }
        var environment: [String: String] = [:]
        for name in stdio.environment.keys {
            environment[name] = credentials[MCPServer.credentialKey(server.name, "env/\(name)")]?.secret
        }
        self.init(
            binary: Self.ownBinary(),
            control: config.router.control?.path ?? "",
            settings: stdio,
            uid: sandbox?.uids.first,
            gid: sandbox?.gids.first ?? sandbox?.uids.first,
            environment: environment
        )
    }
}

extension AirlockConfig {
    /// Every credential the router reads, by owner: upstream names, and ``MCPServer/credentialKey(_:)`` of MCP servers.
    var credentialSources: [(String, CredentialSource)] {
        var sources = upstreams.compactMap { upstream in upstream.credential.map { (upstream.name, $0) } }
        for server in mcpServers {
            if let credential = server.credential {
                sources.append((MCPServer.credentialKey(server.name), credential.source))
            }
            if let secret = server.oauth?.clientSecret {
                sources.append((MCPServer.credentialKey(server.name, "client_secret"), secret))
            }
            if let refresh = server.oauth?.refreshToken {
                sources.append((MCPServer.credentialKey(server.name, "refresh_token"), refresh))
            }
            for (name, source) in server.stdio?.environment ?? [:] {
                sources.append((MCPServer.credentialKey(server.name, "env/\(name)"), source))
            }
        }
        for sandbox in sandboxes {
            for (index, entry) in sandbox.egress.inspect.enumerated() {
                if let credential = entry.credential {
                    sources.append((InspectPlan.credentialKey(sandbox: sandbox.name, index: index), credential.source))
                }
            }
        }
        return sources
    }
}
