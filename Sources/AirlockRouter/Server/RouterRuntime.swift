import AirlockPolicy
import Logging
import NIOCore
import NIOHTTP1

/// Everything the request path reads, built once from a validated configuration. A reload builds the next one
/// from the previous: limits, circuit breakers and open-tunnel counts carry over (see ``Limiters``, ``Upstream``
/// and ``EgressProxy``).
final class RouterRuntime: Sendable {
    struct Route: Sendable {
        let api: APIFamily
        /// Upstreams in failover order, each with the model name it is sent.
        let targets: [(Upstream, String)]
    }

    let config: AirlockConfig
    let sandboxes: [String: SandboxPolicy]
    let identities: IdentityMap
    let routes: [String: Route]
    let modelNames: [String]
    let upstreams: [String: Upstream]
    /// The MCP servers of `/mcp/<name>`.
    let mcp: MCPServers
    let limiters: Limiters
    let budgets: any TokenLedger
    let receipts: any ReceiptSink
    let caller: UpstreamCaller
    let contentTypes: Set<String>
    let egress: EgressProxy
    let connectionLimits: HTTPConnectionHandler.Limits
    let metrics: RouterMetrics

    init(
        config: AirlockConfig,
        credentials: [String: Credential],
        budgets: any TokenLedger,
        receipts: any ReceiptSink,
        clients: UpstreamHTTPClient,
        metrics: RouterMetrics,
        logger: Logger,
        previous: RouterRuntime? = nil,
        egressCA: EgressCA? = nil
    ) {
        self.config = config
        self.metrics = metrics
        sandboxes = Dictionary(config.sandboxes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        identities = IdentityMap(config.sandboxes)
        var upstreams: [String: Upstream] = [:]
        for upstream in config.upstreams {
            guard case .success(let url) = UpstreamURL.parse(upstream.baseURL) else {
                preconditionFailure("validated configuration has a bad base_url")
            }
            let provider = ProviderFactory.make(upstream, url: url, credential: credentials[upstream.name])
            upstreams[upstream.name] = Upstream(
                config: upstream, url: url, provider: provider, client: clients, previous: previous?.upstreams[upstream.name]
            )
        }
        self.upstreams = upstreams
        mcp = MCPServers(
            config: config, credentials: credentials, client: clients, previous: previous?.mcp, logger: logger)
        var routes: [String: Route] = [:]
        for model in config.models {
            routes[model.name] = Route(
                api: model.api,
                targets: model.targets.map { (upstreams[$0.upstream]!, $0.model ?? model.name) }
            )
        }
        self.routes = routes
        modelNames = config.models.map(\.name)
        limiters = Limiters(limits: config.router.limits, sandboxes: config.sandboxes, previous: previous?.limiters)
        self.budgets = budgets
        self.receipts = receipts
        let retry = config.retry
        caller = UpstreamCaller(
            metrics: metrics,
            schedule: RetrySchedule(
                attempts: retry.attempts,
                base: retry.base.duration,
                cap: retry.cap.duration,
                maxRetryAfter: retry.maxRetryAfter.duration
            )
        )
        contentTypes = Set(config.router.limits.contentTypes)
        egress = EgressProxy(
            config: config, receipts: receipts, metrics: metrics, logger: logger, previous: previous?.egress,
            credentials: credentials, ca: egressCA
        )
        let limits = config.router.limits
        connectionLimits = HTTPConnectionHandler.Limits(
            maxBodyBytes: limits.maxBodyBytes,
            maxHeaderBytes: limits.maxHeaderBytes,
            headerTimeout: .nanoseconds(limits.headerTimeout.nanoseconds),
            idleTimeout: .nanoseconds(limits.idleTimeout.nanoseconds),
            maxConnectionsPerPeer: limits.maxConnectionsPerPeer
        )
    }

    /// 415 unless the media type (parameters ignored) is on the allowlist.
    func checkContentType(_ headers: HTTPHeaders) -> RouterError? {
        let values = headers["content-type"]
        guard values.count == 1 else {
            return RouterError(status: 415, reason: "unsupported_media_type", message: "The request needs exactly one Content-Type header, one of: \(contentTypes.sorted().joined(separator: ", ")).")
        }
        let media = values[0].split(separator: ";", maxSplits: 1).first.map { String($0).trimmingWhitespace().lowercased() } ?? ""
        guard contentTypes.contains(media) else {
            return RouterError(status: 415, reason: "unsupported_media_type", message: "Content-Type \"\(media)\" is not accepted; send one of: \(contentTypes.sorted().joined(separator: ", ")).")
        }
        return nil
    }
}

/// The runtime the request path reads, replaced atomically when the configuration is reloaded. A request
/// keeps the runtime it started with until it ends.
final class RuntimeHolder: Sendable {
    private let box: Locked<RouterRuntime>

    init(_ runtime: RouterRuntime) {
        box = Locked(runtime)
    }

    var current: RouterRuntime { box.withLock { $0 } }

    func replace(_ runtime: RouterRuntime) {
        box.withLock { $0 = runtime }
    }
}
