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
/// `drain_timeout`, and closes what is left.
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
    /// SHA-256 of the configuration file's bytes, lowercase hex.
    public let policyDigest: String
    private let runtime: RouterRuntime
    private let serverChannels: [any Channel]
    private let tracker: ConnectionTracker
    private let factory: ListenerFactory
    private let logger: Logger
    private let ownedLog: ReceiptLogSink?
    private let controlServer: ControlServer?
    /// Listeners handed in for sandboxes (control socket), closed on unregister and at shutdown.
    private let adopted = Locked<[String: [any Channel]]>([:])

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
        var credentials: [String: Credential] = [:]
        for upstream in config.upstreams {
            if let source = upstream.credential {
                credentials[upstream.name] = try Credential.load(source, upstream: upstream.name)
            }
        }
        let target = try (options.user ?? config.router.user).map(Privileges.resolve)
        try DurableFile.ensureDirectory(config.router.stateDirectory)
        if let target, geteuid() == 0 {
            guard chown(config.router.stateDirectory, target.uid, target.gid) == 0 else {
                throw SystemCallError(call: "chown", subject: config.router.stateDirectory, errno: errno)
            }
        }
        let budgets = try BudgetLedger(
            directory: config.router.stateDirectory,
            tenants: config.tenants,
            now: WallClock.nanoseconds() / 1_000_000_000
        )
        if let target, geteuid() == 0 {
            _ = chown(budgets.path, target.uid, target.gid)
        }
        let digest = Hex.encode(SHA256.hash(data: loaded.source))
        let ownedLog: ReceiptLogSink?
        let sink: any ReceiptSink
        if let receipts {
            ownedLog = nil
            sink = receipts
        } else if config.receipts.enabled {
            let log = try await ReceiptLogSink.open(config.receipts, policyDigest: digest)
            if let target, geteuid() == 0 {
                try DurableFile.chownTree(config.receipts.directory, uid: target.uid, gid: target.gid)
            }
            ownedLog = log
            sink = log
        } else {
            logger.warning("receipts are disabled by configuration: requests will not be recorded")
            ownedLog = nil
            sink = DisabledReceipts()
        }
        func abandon() async {
            try? await ownedLog?.close()
        }
        let runtime: RouterRuntime
        do {
            runtime = try RouterRuntime(
            config: config,
            credentials: credentials,
            budgets: budgets,
            receipts: sink,
            group: group
        )
        } catch {
            await abandon()
            throw error
        }
        let tracker = ConnectionTracker()
        let limits = config.router.limits
        let pipeline = RequestPipeline(runtime: runtime, logger: logger)
        let factory = ListenerFactory(
            group: group,
            pipeline: pipeline,
            tracker: tracker,
            limits: .init(
                maxBodyBytes: limits.maxBodyBytes,
                maxHeaderBytes: limits.maxHeaderBytes,
                headerTimeout: .nanoseconds(limits.headerTimeout.nanoseconds),
                idleTimeout: .nanoseconds(limits.idleTimeout.nanoseconds)
            ),
            identities: runtime.identities,
            egress: EgressProxy(config: config, receipts: sink, logger: logger)
        )
        var channels: [any Channel] = []
        var controlServer: ControlServer?
        let adoptionTarget = WeakRouter()
        do {
            for listener in config.router.listeners {
                channels.append(try await factory.bind(listener))
            }
            if let control = config.router.control {
                controlServer = try ControlServer(path: control.path, operators: Set(control.operatorUIDs), logger: logger) {
                    request, descriptors in
                    await adoptionTarget.value?.handleControl(request, descriptors: descriptors)
                        ?? .failure(.init("the router is still starting"))
                }
                if let target, geteuid() == 0 {
                    try controlServer?.chown(to: target.uid, gid: target.gid)
                }
            }
            if let target, geteuid() == 0 {
                try Privileges.drop(to: target)
            }
        } catch {
            controlServer?.discard()
            for channel in channels { try? await channel.close() }
            await runtime.clients.shutdown()
            await abandon()
            throw error
        }
        if geteuid() == 0 && !(options.allowRoot || config.router.allowRoot) {
            for channel in channels { try? await channel.close() }
            await runtime.clients.shutdown()
            await abandon()
            throw RouterStartError(
                "the router would serve requests as root. Pass --user NAME (or set router.user) to drop to the router's own user, or --allow-root if you really mean it."
            )
        }
        do {
            var started = Receipt.router(.admin, peer: nil, route: "router", decision: "allow", reason: "router_started", traceID: "")
            started.uid = Int64(geteuid())
            _ = try await sink.append(started)
        } catch {
            for channel in channels { try? await channel.close() }
            await runtime.clients.shutdown()
            await abandon()
            throw RouterStartError("the receipt log cannot be written (\(error)); the router will not serve without it")
        }
        let router = Router(
            runtime: runtime,
            channels: channels,
            tracker: tracker,
            factory: factory,
            digest: digest,
            ownedLog: ownedLog,
            controlServer: controlServer,
            logger: logger
        )
        adoptionTarget.value = router
        controlServer?.start()
        return router
    }

    private init(
        runtime: RouterRuntime,
        channels: [any Channel],
        tracker: ConnectionTracker,
        factory: ListenerFactory,
        digest: String,
        ownedLog: ReceiptLogSink?,
        controlServer: ControlServer?,
        logger: Logger
    ) {
        self.ownedLog = ownedLog
        self.controlServer = controlServer
        self.runtime = runtime
        self.serverChannels = channels
        self.tracker = tracker
        self.factory = factory
        self.policyDigest = digest
        self.logger = logger
        self.boundAddresses = channels.map { channel in
            switch channel.localAddress {
            case .v4(let a)?: return "\(a.host):\(channel.localAddress?.port ?? 0)"
            case .v6(let a)?: return "[\(a.host)]:\(channel.localAddress?.port ?? 0)"
            case .unixDomainSocket?: return channel.localAddress?.pathname ?? "unix"
            case nil: return "unknown"
            }
        }
    }

    /// Serves until graceful shutdown, then drains.
    public func run() async throws {
        logger.info("router serving", metadata: ["listeners": "\(boundAddresses.joined(separator: ", "))", "policy.digest": "\(policyDigest)"])
        let budgets = runtime.budgets
        let channels = serverChannels
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(1))
                        try? budgets.sync()
                    }
                }
                for channel in channels {
                    group.addTask { try? await channel.closeFuture.get() }
                }
                for _ in channels { await group.next() }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.initiateShutdown()
        }
        let drain = runtime.config.router.drainTimeout.duration
        logger.info("draining", metadata: ["in_flight": "\(tracker.inFlight)", "drain.timeout": "\(drain)"])
        await tracker.drain(timeout: drain)
        let left = tracker.inFlight
        await tracker.closeAll()
        try? budgets.sync()
        await runtime.clients.shutdown()
        do {
            try await ownedLog?.close()
        } catch {
            logger.error("closing the receipt log failed", metadata: ["error": "\(error)"])
        }
        logger.info("router stopped", metadata: ["cut_off": "\(left)"])
    }

    /// The request path's state, for white-box assertions in tests.
    var runtimeForTesting: RouterRuntime { runtime }

    /// Stops accepting connections; `run()` then drains and returns. The same as a graceful-shutdown signal.
    public func initiateShutdown() {
        controlServer?.stop()
        for channel in serverChannels { channel.close(promise: nil) }
        let handedIn = adopted.withLock { all in
            defer { all.removeAll() }
            return all.values.flatMap { $0 }
        }
        for channel in handedIn { channel.close(promise: nil) }
    }

    /// Starts serving an already-bound listening socket for `sandbox` (the sandbox launcher hands these in).
    public func adoptListener(fd: Int32, sandbox: String, role: ListenerConfig.Role = .inference) async throws {
        guard runtime.identities.sandbox(named: sandbox) != nil else {
            throw RouterStartError("no sandbox is named \"\(sandbox)\"; add it under `sandboxes` in the configuration")
        }
        let channel = try await factory.adopt(fd: fd, sandbox: sandbox, role: role)
        adopted.withLock { $0[sandbox, default: []].append(channel) }
        logger.info("listener handed in", metadata: ["sandbox.name": "\(sandbox)", "listener.role": "\(role.rawValue)"])
    }

    /// Stops serving the listeners handed in for `sandbox`; returns how many were closed.
    @discardableResult
    public func releaseListeners(sandbox: String) async -> Int {
        let channels = adopted.withLock { $0.removeValue(forKey: sandbox) ?? [] }
        for channel in channels { try? await channel.close() }
        return channels.count
    }

    func handleControl(_ request: ControlMessage.Request, descriptors: [Int32]) async -> Result<Void, ControlMessage.Failure> {
        switch request {
        case .ping:
            descriptors.forEach { close($0) }
            return .success(())
        case .unregister(let sandbox):
            descriptors.forEach { close($0) }
            await releaseListeners(sandbox: sandbox)
            return .success(())
        case .register(let sandbox, let roles):
            guard descriptors.count == roles.count else {
                descriptors.forEach { close($0) }
                return .failure(.init("\(roles.count) role(s) but \(descriptors.count) descriptor(s) attached"))
            }
            guard runtime.identities.sandbox(named: sandbox) != nil else {
                descriptors.forEach { close($0) }
                return .failure(.init("no sandbox is named \"\(sandbox)\" in the router's configuration"))
            }
            do {
                for (role, fd) in zip(roles, descriptors) {
                    try await adoptListener(fd: fd, sandbox: sandbox, role: role == .egress ? .egress : .inference)
                }
                return .success(())
            } catch {
                return .failure(.init("\(error)"))
            }
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
