/// Process-level settings of the router: where it listens, where it keeps state, which user it runs as.
public struct RouterSettings: Decodable, Sendable {
    public var listeners: [ListenerConfig]
    /// Directory for the budget ledger and other router state; created 0700 if missing.
    public var stateDirectory: String
    /// Drop to this user (name or numeric UID) after binding and reading credentials.
    public var user: String?
    /// Run the request path as root. Off by default: the router refuses to serve as UID 0.
    public var allowRoot: Bool
    /// How long SIGTERM waits for in-flight requests before closing them.
    public var drainTimeout: ConfigDuration
    public var limits: RouterLimits
    /// The control socket through which `airlock run` hands in sandbox listeners; nil: none.
    public var control: ControlSettings?
    public var egress: EgressSettings

    enum CodingKeys: String, CodingKey {
        case control, egress
        case listeners
        case stateDirectory = "state_directory"
        case user
        case allowRoot = "allow_root"
        case drainTimeout = "drain_timeout"
        case limits
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        listeners = try c.decode([ListenerConfig].self, forKey: .listeners)
        stateDirectory = try c.decode(String.self, forKey: .stateDirectory)
        user = try c.decodeIfPresent(String.self, forKey: .user)
        allowRoot = try c.decodeIfPresent(Bool.self, forKey: .allowRoot) ?? false
        drainTimeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .drainTimeout) ?? .seconds(10)
        limits = try c.decodeIfPresent(RouterLimits.self, forKey: .limits) ?? RouterLimits()
        control = try c.decodeIfPresent(ControlSettings.self, forKey: .control)
        egress = try c.decodeIfPresent(EgressSettings.self, forKey: .egress) ?? EgressSettings()
    }

    public init(
        listeners: [ListenerConfig],
        stateDirectory: String,
        user: String? = nil,
        allowRoot: Bool = false,
        drainTimeout: ConfigDuration = .seconds(10),
        limits: RouterLimits = RouterLimits(),
        control: ControlSettings? = nil,
        egress: EgressSettings = EgressSettings()
    ) {
        self.control = control
        self.egress = egress
        self.listeners = listeners
        self.stateDirectory = stateDirectory
        self.user = user
        self.allowRoot = allowRoot
        self.drainTimeout = drainTimeout
        self.limits = limits
    }
}

/// Connection and request limits that apply to every listener.
public struct RouterLimits: Decodable, Sendable {
    public var maxBodyBytes: Int
    public var maxHeaderBytes: Int
    /// A connection must deliver a complete request head within this time.
    public var headerTimeout: ConfigDuration
    /// A connection with no request in flight is closed after this time.
    public var idleTimeout: ConfigDuration
    /// Requests in flight across all sandboxes; more get 503.
    public var maxConcurrent: Int
    /// Global token bucket.
    public var rate: RateSettings
    /// Content types accepted on request bodies.
    public var contentTypes: [String]
    /// Open connections one peer may hold on the agent and egress listeners (per UID, or per handed-in listener);
    /// the next one is answered 429 `too_many_connections` and closed.
    public var maxConnectionsPerPeer: Int
    /// The token bucket that peers mapped to no sandbox share (they take nothing from the global bucket, so they
    /// cannot starve the sandboxes); past it their refusals are counted, not recorded one by one.
    public var unknownPeerRate: RateSettings

    enum CodingKeys: String, CodingKey {
        case maxBodyBytes = "max_body_bytes"
        case maxHeaderBytes = "max_header_bytes"
        case headerTimeout = "header_timeout"
        case idleTimeout = "idle_timeout"
        case maxConcurrent = "max_concurrent"
        case rate
        case contentTypes = "content_types"
        case maxConnectionsPerPeer = "max_connections_per_peer"
        case unknownPeerRate = "unknown_peer_rate"
    }

    public static let defaultContentTypes = ["application/json"]

    public init(from decoder: any Decoder) throws {
        let d = RouterLimits()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        maxBodyBytes = try c.decodeIfPresent(Int.self, forKey: .maxBodyBytes) ?? d.maxBodyBytes
        maxHeaderBytes = try c.decodeIfPresent(Int.self, forKey: .maxHeaderBytes) ?? d.maxHeaderBytes
        headerTimeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .headerTimeout) ?? d.headerTimeout
        idleTimeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .idleTimeout) ?? d.idleTimeout
        maxConcurrent = try c.decodeIfPresent(Int.self, forKey: .maxConcurrent) ?? d.maxConcurrent
        rate = try c.decodeIfPresent(RateSettings.self, forKey: .rate) ?? d.rate
        contentTypes = try c.decodeIfPresent([String].self, forKey: .contentTypes) ?? d.contentTypes
        maxConnectionsPerPeer = try c.decodeIfPresent(Int.self, forKey: .maxConnectionsPerPeer) ?? d.maxConnectionsPerPeer
        unknownPeerRate = try c.decodeIfPresent(RateSettings.self, forKey: .unknownPeerRate) ?? d.unknownPeerRate
    }

    public init(
        maxBodyBytes: Int = 1 << 20,
        maxHeaderBytes: Int = 16 << 10,
        headerTimeout: ConfigDuration = .seconds(10),
        idleTimeout: ConfigDuration = .seconds(60),
        maxConcurrent: Int = 256,
        rate: RateSettings = RateSettings(rps: 500, burst: 1000),
        contentTypes: [String] = RouterLimits.defaultContentTypes,
        maxConnectionsPerPeer: Int = 256,
        unknownPeerRate: RateSettings = RateSettings(rps: 5, burst: 20)
    ) {
        self.maxConnectionsPerPeer = maxConnectionsPerPeer
        self.unknownPeerRate = unknownPeerRate
        self.maxBodyBytes = maxBodyBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        self.maxConcurrent = maxConcurrent
        self.rate = rate
        self.contentTypes = contentTypes
    }
}

/// A token bucket: `rps` tokens per second, holding at most `burst`.
public struct RateSettings: Decodable, Sendable, Equatable {
    public var rps: Double
    public var burst: Int

    public init(rps: Double, burst: Int) {
        self.rps = rps
        self.burst = burst
    }
}

/// The router's control socket: a Unix socket, mode 0600, served only to the listed operator UIDs.
public struct ControlSettings: Decodable, Sendable, Equatable {
    public var path: String
    /// Peer UIDs (SO_PEERCRED) allowed to register sandboxes; the launcher runs as root, so usually [0].
    public var operatorUIDs: [UInt32]

    enum CodingKeys: String, CodingKey {
        case path
        case operatorUIDs = "operator_uids"
    }

    public init(path: String, operatorUIDs: [UInt32] = [0]) {
        self.path = path
        self.operatorUIDs = operatorUIDs
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        path = try c.decode(String.self, forKey: .path)
        operatorUIDs = try c.decodeIfPresent([UInt32].self, forKey: .operatorUIDs) ?? [0]
    }
}
