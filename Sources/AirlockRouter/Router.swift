#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy
import AirlockReceipts
import Crypto
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The Airlock router: binds its listeners, reads provider credentials, drops privileges, then serves the
/// request path until graceful shutdown (SIGTERM), when it stops accepting, drains requests in flight up to
/// `drain_timeout`, and closes what is left. SIGHUP reloads the configuration atomically.
public final class Router: Service, Sendable {
    public struct Options: Sendable {
        /// Drop to this user after binding and reading credentials (overrides `router.user`).
        public var user: String?
        /// Serve as root even though `router.allow_root` is false.
        public var allowRoot: Bool

        public init(user: String? = nil, allowRoot: Bool = false) {
            self.user = user
            self.allowRoot = allowRoot
        }
    }

    /// Where each configured listener ended up, in configuration order (ports resolved when 0 was asked).
    public let boundAddresses: [String]
    let holder: RuntimeHolder
    let factory: ListenerFactory
    let logger: Logger
    /// Listeners handed in for sandboxes (control socket), closed on unregister and at shutdown.
    let adopted = Locked<[String: [HandedIn]]>([:])

    /// A listener handed in, and which socket it is (so that one launcher's unregister closes only its own).
    struct HandedIn: Sendable {
        let channel: any Channel
        let socket: SocketIdentity?
    }
    let state: Shared

    /// What start-up produced that outlives any one configuration.
    struct Shared: Sendable {
        let configPath: String
        let serverChannels: [any Channel]
        let tracker: ConnectionTracker
        let budgets: any TokenLedger
        let receipts: any ReceiptSink
        let ownedLog: ReceiptLogSink?
        /// Submits the log's checkpoints to `receipts.witnesses`, when there are any.
        let witnessSubmitter: WitnessSubmitter?
        let clients: UpstreamHTTPClient
        let metrics: RouterMetrics
        let operatorEndpoints: OperatorEndpoints
        let controlServer: ControlServer?
        let credentials: Locked<[CredentialSource: Credential]>
        let digest: Locked<String>
    }

    /// SHA-256 of the configuration file's bytes in force, lowercase hex.
    public var policyDigest: String { state.digest.withLock { $0 } }

    /// Prepares a router: everything that may need privileges happens here, and any failure is reported
    /// before a single connection is accepted.
    public static func start(
        _ loaded: LoadedConfig,
        options: Options = Options(),
        receipts: (any ReceiptSink)? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) async throws -> Router {
        let config = loaded.config
        // Every connection is a descriptor: the per-peer cap protects sandboxes from each other only if the router
        // may hold more than one peer's worth (the usual soft limit is 1024).
        Privileges.raiseOpenFileLimit()
        var credentialCache: [CredentialSource: Credential] = [:]
        var credentials: [String: Credential] = [:]
        for (key, source) in config.credentialSources {
            let credential = try credentialCache[source] ?? Credential.load(source, upstream: key)
            credentialCache[source] = credential
            credentials[key] = credential
        }
        let target = try (options.user ?? config.router.user).map(Privileges.resolve)
        let chownTo = geteuid() == 0 ? target : nil
        try DurableFile.ensureDirectory(config.router.stateDirectory)
        if let chownTo {
            guard chown(config.router.stateDirectory, chownTo.uid, chownTo.gid) == 0 else {
                throw SystemCallError(call: "chown", subject: config.router.stateDirectory, errno: errno)
            }
        }
        // The egress CA, made at first start: its key is the router's alone (0600, owned by the router's user).
        let egressCA = try EgressCA.loadOrCreate(
            stateDirectory: config.router.stateDirectory, owner: chownTo.map { (uid: $0.uid, gid: $0.gid) }
        )
        let metrics = RouterMetrics()
        let budgets = try await Self.openLedger(config, chownTo: chownTo, metrics: metrics, logger: logger)
        let digest = Hex.encode(SHA256.hash(data: loaded.source))
        let ownedLog: ReceiptLogSink?
        let inner: any ReceiptSink
        if let receipts {
            ownedLog = nil
            inner = receipts
        } else if config.receipts.enabled {
            let log = try await ReceiptLogSink.open(config.receipts, policyDigest: digest)
            if let chownTo {
                try DurableFile.chownTree(config.receipts.directory, uid: chownTo.uid, gid: chownTo.gid)
            }
            ownedLog = log
            inner = log
        } else {
            logger.warning("receipts are disabled by configuration: requests will not be recorded")
            ownedLog = nil
            inner = DisabledReceipts()
        }
        let sink = MeteredReceipts(inner: inner, metrics: metrics)
        var witnessSubmitter: WitnessSubmitter?
        if let log = ownedLog?.log, !config.receipts.witnesses.isEmpty {
            do {
                witnessSubmitter = try WitnessSubmitter(
                    log: log, settings: config.receipts.witnesses, group: group, logger: logger
                )
            } catch {
                try? await log.close()
                throw error
            }
        }
        let clients = UpstreamHTTPClient(group: group)
        let holder = RuntimeHolder(
            RouterRuntime(
                config: config,
                credentials: credentials,
                budgets: budgets,
                receipts: sink,
                clients: clients,
                metrics: metrics,
                logger: logger,
                egressCA: egressCA
            )
        )
        let tracker = ConnectionTracker()
        let operatorEndpoints = OperatorEndpoints(metrics: metrics)
        let factory = ListenerFactory(
            group: group,
            pipeline: RequestPipeline(holder: holder, logger: logger),
            tracker: tracker,
            holder: holder,
            operatorEndpoints: operatorEndpoints
        )
        var channels: [any Channel] = []
        var controlServer: ControlServer?
        let adoptionTarget = WeakRouter()
        func abandon() async {
            controlServer?.discard()
            for channel in channels { try? await channel.close() }
            await clients.shutdown()
            try? await ownedLog?.close()
            await budgets.close()
        }
        do {
            for listener in config.router.listeners {
                channels.append(try await factory.bind(listener))
            }
            holder.current.egress.setListening(Self.boundEndpoints(config.router.listeners, channels))
            if let control = config.router.control {
                controlServer = try ControlServer(path: control.path, operators: Set(control.operatorUIDs), logger: logger) {
                    request, descriptors in
                    await adoptionTarget.value?.handleControl(request, descriptors: descriptors)
                        ?? .failure(.init("the router is still starting"))
                }
                if let chownTo {
                    try controlServer?.chown(to: chownTo.uid, gid: chownTo.gid)
                }
                // The CA's public certificate next to the control socket, where `airlock run` reads it to add it to
                // the sandbox's trust store (ControlSocketRegistrar.egressCertificate).
                try EgressCA.publish(egressCA, controlSocket: control.path)
            }
            if let chownTo {
                try Privileges.drop(to: chownTo)
            }
            if geteuid() == 0 && !(options.allowRoot || config.router.allowRoot) {
                throw RouterStartError(
                    "the router would serve requests as root. Pass --user NAME (or set router.user) to drop to the router's own user, or --allow-root if you really mean it."
                )
            }
        } catch {
            await abandon()
            throw error
        }
        do {
            if let log = ownedLog?.log {
                // A record torn by a crash was cut when the log opened: the operator hears of it, and the log itself
                // records it at the index the torn record would have had.
                for message in log.recovery.messages {
                    logger.warning("receipt log recovered at start", metadata: ["detail": "\(message)"])
                }
                _ = try await log.appendRecoveryRecord()
            }
            var started = Receipt.router(.admin, peer: nil, route: "router", decision: "allow", reason: "router_started", traceID: "")
            started.uid = Int64(geteuid())
            _ = try await sink.append(started)
        } catch {
            await abandon()
            throw RouterStartError("the receipt log cannot be written (\(error)); the router will not serve without it")
        }
        let router = Router(
            holder: holder,
            factory: factory,
            logger: logger,
            state: Shared(
                configPath: loaded.path,
                serverChannels: channels,
                tracker: tracker,
                budgets: budgets,
                receipts: sink,
                ownedLog: ownedLog,
                witnessSubmitter: witnessSubmitter,
                clients: clients,
                metrics: metrics,
                operatorEndpoints: operatorEndpoints,
                controlServer: controlServer,
                credentials: Locked(credentialCache),
                digest: Locked(digest)
            )
        )
        adoptionTarget.value = router
        operatorEndpoints.setSampler { [weak router] in router?.sampleGauges() }
        controlServer?.start()
        return router
    }

    /// The budget ledger `config.ledger` names: the journal in the state directory, or the shared PostgreSQL
    /// database (its password file is read here, before privileges are dropped).
    static func openLedger(
        _ config: AirlockConfig,
        chownTo: Privileges.Target?,
        metrics: RouterMetrics,
        logger: Logger
    ) async throws -> any TokenLedger {
        switch config.ledger.backend {
        case .journal:
            let journal = try BudgetLedger(
                directory: config.router.stateDirectory,
                tenants: config.tenants,
                now: WallClock.nanoseconds() / 1_000_000_000
            )
            if let chownTo {
                _ = chown(journal.path, chownTo.uid, chownTo.gid)
            }
            return journal
        case .postgres:
            guard let settings = config.ledger.postgres else {
                throw RouterStartError("ledger.postgres: `backend: postgres` needs connection settings. Add host, database and user.")
            }
            let password = try PostgresConnector.password(settings.connection, source: "ledger.postgres")
            return try await PostgresLedger.start(
                settings: settings,
                password: password,
                tenants: config.tenants,
                cluster: config.ledger.cluster,
                metrics: metrics,
                logger: logger
            )
        }
    }

    private init(holder: RuntimeHolder, factory: ListenerFactory, logger: Logger, state: Shared) {
        self.holder = holder
        self.factory = factory
        self.logger = logger
        self.state = state
        self.boundAddresses = state.serverChannels.map { channel in
            switch channel.localAddress {
            case .v4(let a)?: return "\(a.host):\(channel.localAddress?.port ?? 0)"
            case .v6(let a)?: return "[\(a.host)]:\(channel.localAddress?.port ?? 0)"
            case .unixDomainSocket?: return channel.localAddress?.pathname ?? "unix"
            case nil: return "unknown"
            }
        }
    }

    /// The TCP listeners as bound, for the egress proxy to keep away from.
    static func boundEndpoints(_ listeners: [ListenerConfig], _ channels: [any Channel]) -> [RouterEndpoint] {
        zip(listeners, channels).enumerated().compactMap { index, pair in
            guard let local = pair.1.localAddress, let port = local.port, let host = local.ipAddress,
                let address = IPAddress.parse(host)
            else { return nil }
            return .listener(pair.0, index: index, address: address, port: port)
        }
    }

    /// The request path's state, for white-box assertions in tests.
    var runtimeForTesting: RouterRuntime { holder.current }

    /// Refreshes gauges that are read rather than counted.
    func sampleGauges() {
        let runtime = holder.current
        let metrics = state.metrics
        func gauge(_ state: CircuitBreaker<ContinuousClock.Instant>.State) -> Double {
            switch state {
            case .closed: return 0
            case .halfOpen: return 1
            case .open: return 2
            }
        }
        for upstream in runtime.upstreams.values {
            metrics.breakerState(upstream: upstream.name, gauge(upstream.breakerState))
        }
        for server in runtime.mcp.byName.values {
            metrics.mcpBreakerState(server: server.config.name, gauge(server.breaker.withLock { $0.state }))
        }
        metrics.inFlight(state.tracker.inFlight)
        metrics.connections(state.tracker.openConnections)
    }
}

extension Router {
    /// Refreshes the budget gauges. Not at scrape time: a shared ledger answers over the network, so this runs in
    /// the router's once-a-second upkeep.
    func sampleBudgets() async {
        let now = WallClock.nanoseconds() / 1_000_000_000
        let metrics = state.metrics
        for tenant in state.budgets.tenantsWithBudgets {
            let left = await state.budgets.remaining(tenant: tenant, now: now)
            if let day = left.day { metrics.budgetRemaining(tenant: tenant, period: "day", day) }
            if let month = left.month { metrics.budgetRemaining(tenant: tenant, period: "month", month) }
        }
    }
}

/// The router cannot start; the message says why and what to do.
public struct RouterStartError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Lets the control socket reach the router once it exists, without keeping it alive.
final class WeakRouter: @unchecked Sendable {
    weak var value: Router?
}
