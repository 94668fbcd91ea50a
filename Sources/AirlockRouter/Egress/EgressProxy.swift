import AirlockPolicy
import AirlockReceipts
import Logging
import NIOCore
import NIOPosix

/// The egress proxy's decisions and bookkeeping, shared by all its connections: per-sandbox rules, the
/// resolver, tunnel limits, and an `egress` receipt for every tunnel (at open, before any byte is relayed,
/// and at close with bytes each way and duration).
final class EgressProxy: Sendable {
    /// A tunnel in progress. Its counters are touched only on the tunnel's event loop.
    final class Tunnel: @unchecked Sendable {
        let sandbox: String
        let peer: PeerIdentity
        let target: EgressTarget
        let address: IPAddress
        let started: UInt64
        let requestIndex: UInt64
        let route: String
        var bytesUp = 0
        var bytesDown = 0
        /// Whether the tunnel's slot under the sandbox's cap was given back (once: at the agent's FIN or the close).
        var released = false

        init(sandbox: String, peer: PeerIdentity, target: EgressTarget, address: IPAddress, requestIndex: UInt64, route: String) {
            self.sandbox = sandbox
            self.peer = peer
            self.target = target
            self.address = address
            self.started = DispatchTimeNanos.now()
            self.requestIndex = requestIndex
            self.route = route
        }
    }

    enum Outcome {
        case refused(ProxyRequestHead.Refusal)
        case connected(any Channel, Tunnel)
    }

    let headTimeout: TimeAmount
    private let rules: [String: EgressRules]
    private let policies: [String: EgressPolicy]
    private let resolver: EgressResolver
    private let receipts: any ReceiptSink
    let connectTimeout: TimeAmount
    /// Open tunnels per sandbox; shared with the proxy of the previous configuration after a reload, so
    /// tunnels opened before it count against the caps after it.
    private let open: Locked<[String: Int]>
    private let logger: Logger
    private let metrics: RouterMetrics
    /// The router's upstreams in this configuration, and its bound TCP listeners (set once bound, shared across
    /// reloads): the proxy never connects to them, whatever the allowlist says.
    private let upstreams: [RouterEndpoint]
    private let listening: Locked<[RouterEndpoint]>
    /// The router's CA for inspected hosts; nil when the router runs without one (then inspected hosts are refused).
    let ca: EgressCA?
    private let inspections: [String: EgressInspection]
    /// Credentials of inspected hosts, by ``InspectPlan/credentialKey(sandbox:index:)``.
    private let credentials: [String: Credential]
    /// Plans made so far (their client TLS contexts load the CA bundle once), by sandbox and entry index.
    private let plans: Locked<[String: InspectPlan]> = Locked([:])
    let connectionLimits: HTTPConnectionHandler.Limits

    init(
        config: AirlockConfig,
        receipts: any ReceiptSink,
        metrics: RouterMetrics,
        logger: Logger,
        previous: EgressProxy? = nil,
        credentials: [String: Credential] = [:],
        ca: EgressCA? = nil
    ) {
        self.metrics = metrics
        self.ca = ca ?? previous?.ca
        self.credentials = credentials
        var inspections: [String: EgressInspection] = [:]
        for sandbox in config.sandboxes { inspections[sandbox.name] = EgressInspection(sandbox.egress) }
        self.inspections = inspections
        let limits = config.router.limits
        self.connectionLimits = HTTPConnectionHandler.Limits(
            maxBodyBytes: limits.maxBodyBytes,
            maxHeaderBytes: limits.maxHeaderBytes,
            headerTimeout: .nanoseconds(limits.headerTimeout.nanoseconds),
            idleTimeout: .nanoseconds(limits.idleTimeout.nanoseconds),
            maxConnectionsPerPeer: limits.maxConnectionsPerPeer
        )
        self.open = previous?.open ?? Locked([:])
        self.listening = previous?.listening ?? Locked([])
        self.upstreams = config.upstreamEndpoints
        var rules: [String: EgressRules] = [:]
        var policies: [String: EgressPolicy] = [:]
        for sandbox in config.sandboxes {
            rules[sandbox.name] = EgressRules(sandbox.egress)
            policies[sandbox.name] = sandbox.egress
        }
        self.rules = rules
        self.policies = policies
        self.resolver = EgressResolver(settings: config.router.egress)
        self.receipts = receipts
        self.connectTimeout = .nanoseconds(config.router.egress.connectTimeout.nanoseconds)
        self.headTimeout = .nanoseconds(config.router.limits.headerTimeout.nanoseconds)
        self.logger = logger
    }

    /// Records where the router's listeners are bound, ports chosen by the kernel included.
    func setListening(_ endpoints: [RouterEndpoint]) {
        listening.withLock { $0 = endpoints }
    }

    /// The router endpoint a tunnel to `target` at these addresses would reach, if any.
    func routerEndpoint(_ target: EgressTarget, at addresses: [IPAddress]) -> (RouterEndpoint, IPAddress?)? {
        let endpoints = listening.withLock { $0 } + upstreams
        for endpoint in endpoints {
            if case .name(let name) = target.host, endpoint.isNamed(name, port: target.port) { return (endpoint, nil) }
            if let address = addresses.first(where: { endpoint.isReached(by: $0, port: target.port) }) {
                return (endpoint, address)
            }
        }
        return nil
    }

    func idleTimeout(_ sandbox: String) -> TimeAmount {
        .nanoseconds(policies[sandbox]?.idleTimeout.nanoseconds ?? 60_000_000_000)
    }

    func maxLifetime(_ sandbox: String) -> TimeAmount {
        .nanoseconds(policies[sandbox]?.maxLifetime.nanoseconds ?? 3_600_000_000_000)
    }

    /// Decides on a request and, if allowed, connects to the checked address.
    func open(_ head: ProxyRequestHead, peer: PeerIdentity, eventLoop: any EventLoop) async -> Outcome {
        let route = head.form == .connect ? "egress.connect" : "egress.forward"
        func refuse(_ status: Int, _ reason: String, _ message: String, address: IPAddress? = nil) async -> Outcome {
            let refusal = ProxyRequestHead.Refusal(status: status, reason: reason, message: message)
            metrics.egress(sandbox: peer.sandbox?.name ?? "", decision: "deny", reason: reason)
            await record(.router(.egress, peer: peer, route: route, decision: "deny", reason: reason, traceID: ""), target: head.target, address: address, status: status)
            logger.info("egress refused", metadata: ["egress.target": "\(head.target)", "refusal.reason": "\(reason)"])
            return .refused(refusal)
        }
        guard let sandbox = peer.sandbox, let rules = rules[sandbox.name], let policy = policies[sandbox.name] else {
            return await refuse(403, "unknown_sandbox", "this connection does not belong to a configured sandbox")
        }
        var learned = false
        if case .denied(let reason, let message) = rules.decide(head.target) {
            // Learn mode opens what the allow list lacks, and only that: the deny list and every check below hold.
            guard policy.mode == .learn, reason == "not_allowlisted" else { return await refuse(403, reason, message) }
            learned = true
        }
        let addresses: [IPAddress]
        switch head.target.host {
        case .address(let address):
            addresses = [address]
        case .name(let name):
            do {
                addresses = try await resolver.resolve(name)
            } catch {
                return await refuse(502, "resolution_failed", "\(error)")
            }
        }
        guard !addresses.isEmpty else { return await refuse(502, "resolution_failed", "no address for \(head.target)") }
        // Every answer must be acceptable: one private address among public ones is how rebinding starts.
        for address in addresses {
            if case .denied(let reason, let message) = rules.check(address) {
                return await refuse(403, reason, message, address: address)
            }
        }
        // Defence in depth behind `airlock policy check`: a port the kernel picked, or a DNS answer, can still land
        // on the router's own listeners or upstreams.
        if let (endpoint, address) = routerEndpoint(head.target, at: addresses) {
            return await refuse(403, "router_endpoint", "\(head.target) is \(endpoint); the egress proxy never connects to the router's own listeners or upstreams", address: address)
        }
        let admitted = open.withLock { counts -> Bool in
            guard counts[sandbox.name, default: 0] < policy.maxTunnels else { return false }
            counts[sandbox.name, default: 0] += 1
            return true
        }
        guard admitted else {
            return await refuse(429, "too_many_tunnels", "sandbox \"\(sandbox.name)\" already has \(policy.maxTunnels) open tunnels")
        }
        let openedReason = learned ? "learned" : "opened"
        if learned {
            logger.warning(
                "egress learned: not on the allow list, opened because the sandbox's egress.mode is learn",
                metadata: ["sandbox": "\(sandbox.name)", "egress.target": "\(head.target)"])
        }
        var intent = Receipt.router(.egress, peer: peer, route: route, decision: "allow", reason: openedReason, traceID: "")
        intent.egress = Receipt.Egress(host: hostText(head.target), port: Int64(head.target.port), address: addresses[0].description)
        let index: UInt64
        do {
            index = try await receipts.append(intent)
        } catch {
            release(sandbox.name)
            logger.error("egress receipt append failed; refusing tunnel", metadata: ["error": "\(error)"])
            return .refused(.init(status: 503, reason: "receipt_log_unavailable", message: "the router cannot record this tunnel, so it will not open it"))
        }
        var lastError = "no address"
        for address in addresses {
            do {
                let socketAddress = try address.socketAddress(port: head.target.port)
                let channel = try await ClientBootstrap(group: eventLoop)
                    .connectTimeout(connectTimeout)
                    .channelOption(.autoRead, value: true)
                    .connect(to: socketAddress).get()
                let tunnel = Tunnel(sandbox: sandbox.name, peer: peer, target: head.target, address: address, requestIndex: index, route: route)
                metrics.egress(sandbox: sandbox.name, decision: "allow", reason: openedReason)
                return .connected(channel, tunnel)
            } catch {
                lastError = "\(error)"
            }
        }
        release(sandbox.name)
        var failed = Receipt.router(.egress, peer: peer, route: route, decision: "error", reason: "connect_failed", traceID: "")
        failed.requestIndex = index
        failed.egress = Receipt.Egress(host: hostText(head.target), port: Int64(head.target.port), address: addresses[0].description)
        await record(failed, target: nil, address: nil, status: 502)
        return .refused(.init(status: 502, reason: "connect_failed", message: "cannot connect to \(head.target): \(lastError)"))
    }

    /// The inspection plan for a CONNECT to `target` from `sandbox`, if the sandbox inspects that host.
    func inspection(sandbox: String, target: EgressTarget) throws -> InspectPlan? {
        guard let entry = inspections[sandbox]?.entry(for: target) else { return nil }
        let key = InspectPlan.credentialKey(sandbox: sandbox, index: entry.index)
        if let plan = plans.withLock({ $0[key] }) { return plan }
        let plan = try InspectPlan.make(sandbox: sandbox, index: entry.index, entry: entry.policy, credential: credentials[key])
        plans.withLock { $0[key] = plan }
        return plan
    }

    /// The receipt of one HTTP request on an inspected host: method, host, the HMAC of its target (path and query)
    /// under the log's body key, status, bytes each way, and the rule that allowed it (`rule_<n>`) or the refusal.
    func recordRequest(
        tunnel: Tunnel, plan: InspectPlan, method: String, target: String, decision: String, reason: String,
        status: Int, bytesUp: Int, bytesDown: Int, latency: Int64
    ) {
        var event = Receipt.router(.egress, peer: tunnel.peer, route: "egress.request", decision: decision, reason: reason, traceID: "")
        event.requestIndex = tunnel.requestIndex
        event.status = Int64(status)
        event.latencyMicroseconds = latency
        event.egress = Receipt.Egress(
            host: hostText(tunnel.target),
            port: Int64(tunnel.target.port),
            address: tunnel.address.description,
            bytesUp: Int64(bytesUp),
            bytesDown: Int64(bytesDown),
            method: String(method.prefix(64))
        )
        if var hasher = receipts.bodyHasher() {
            hasher.update(Array(target.utf8))
            event.requestHMAC = hasher.finalize()
        }
        metrics.egress(sandbox: tunnel.sandbox, decision: decision, reason: decision == "ok" ? "inspected" : reason)
        appendLater(event, "egress request receipt failed")
    }

    /// Appends a record written after the fact (an end, an answered request) without holding up the connection; a
    /// failure is logged.
    private func appendLater(_ receipt: Receipt, _ failure: Logger.Message) {
        let receipts = self.receipts
        let logger = self.logger
        Task {
            do {
                _ = try await receipts.append(receipt)
            } catch {
                logger.error(failure, metadata: ["error": "\(error)"])
            }
        }
    }

    /// Records the end of a tunnel and frees its slot.
    /// Gives the tunnel's slot back, once: when the agent finished sending, or when the tunnel closed.
    func release(_ tunnel: Tunnel) {
        guard !tunnel.released else { return }
        tunnel.released = true
        release(tunnel.sandbox)
    }

    func finish(_ tunnel: Tunnel) {
        release(tunnel)
        var done = Receipt.router(.egress, peer: tunnel.peer, route: tunnel.route, decision: "ok", reason: "closed", traceID: "")
        done.requestIndex = tunnel.requestIndex
        done.latencyMicroseconds = Int64((DispatchTimeNanos.now() - tunnel.started) / 1000)
        done.egress = Receipt.Egress(
            host: hostText(tunnel.target),
            port: Int64(tunnel.target.port),
            address: tunnel.address.description,
            bytesUp: Int64(tunnel.bytesUp),
            bytesDown: Int64(tunnel.bytesDown),
            durationMicroseconds: done.latencyMicroseconds
        )
        appendLater(done, "egress completion receipt failed")
    }

    /// A refusal before the target was known (malformed head).
    func recordRefusal(_ refusal: ProxyRequestHead.Refusal, peer: PeerIdentity, target: EgressTarget?) {
        let receipts = self.receipts
        var event = Receipt.router(.egress, peer: peer, route: "egress", decision: "deny", reason: refusal.reason, traceID: "")
        event.status = Int64(refusal.status)
        Task { _ = try? await receipts.append(event) }
    }

    private func record(_ receipt: Receipt, target: EgressTarget?, address: IPAddress?, status: Int) async {
        var receipt = receipt
        receipt.status = Int64(status)
        if let target {
            receipt.egress = Receipt.Egress(host: hostText(target), port: Int64(target.port), address: address?.description)
        }
        do {
            _ = try await receipts.append(receipt)
        } catch {
            logger.error("egress receipt append failed", metadata: ["error": "\(error)"])
        }
    }

    private func release(_ sandbox: String) {
        open.withLock { $0[sandbox, default: 1] -= 1 }
    }

    private func hostText(_ target: EgressTarget) -> String {
        switch target.host {
        case .name(let name): return name
        case .address(let address): return address.description
        }
    }
}
