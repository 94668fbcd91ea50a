/// What a sandbox may reach through the router's egress proxy. Default: nothing.
public struct EgressPolicy: Decodable, Sendable, Equatable {
    /// `host` (port 443), `host:port`, `host:*`, `*.suffix` forms of each, or IP literals.
    public var allow: [String]
    /// Patterns refused even when `allow` matches.
    public var deny: [String]
    /// Addresses that may be connected to although they are loopback, private, link-local, metadata, ….
    public var allowAddresses: [String]
    public var maxTunnels: Int
    public var idleTimeout: ConfigDuration
    public var maxLifetime: ConfigDuration
    /// `enforce` (the default) refuses what `allow` does not list; `learn` opens it too, with a `learned` receipt
    /// and a log line, so a sandbox's needs can be found by running it (`airlock policy suggest`). The deny list,
    /// the address checks (private, link-local, metadata, the router's own endpoints) and the caps hold in both.
    public var mode: Mode
    /// Hosts whose HTTPS the proxy terminates to apply HTTP rules and add a credential; others are tunnelled opaquely.
    public var inspect: [EgressInspect]

    public enum Mode: String, ConfigEnum {
        case enforce
        case learn
    }

    enum CodingKeys: String, CodingKey {
        case allow, deny, mode, inspect
        case allowAddresses = "allow_addresses"
        case maxTunnels = "max_tunnels"
        case idleTimeout = "idle_timeout"
        case maxLifetime = "max_lifetime"
    }

    public init(
        allow: [String] = [],
        deny: [String] = [],
        allowAddresses: [String] = [],
        maxTunnels: Int = 16,
        idleTimeout: ConfigDuration = .seconds(60),
        maxLifetime: ConfigDuration = .seconds(3600),
        mode: Mode = .enforce,
        inspect: [EgressInspect] = []
    ) {
        self.mode = mode
        self.inspect = inspect
        self.allow = allow
        self.deny = deny
        self.allowAddresses = allowAddresses
        self.maxTunnels = maxTunnels
        self.idleTimeout = idleTimeout
        self.maxLifetime = maxLifetime
    }

    public init(from decoder: any Decoder) throws {
        let d = EgressPolicy()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        allow = try c.decodeIfPresent([String].self, forKey: .allow) ?? d.allow
        deny = try c.decodeIfPresent([String].self, forKey: .deny) ?? d.deny
        allowAddresses = try c.decodeIfPresent([String].self, forKey: .allowAddresses) ?? d.allowAddresses
        maxTunnels = try c.decodeIfPresent(Int.self, forKey: .maxTunnels) ?? d.maxTunnels
        idleTimeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .idleTimeout) ?? d.idleTimeout
        maxLifetime = try c.decodeIfPresent(ConfigDuration.self, forKey: .maxLifetime) ?? d.maxLifetime
        mode = try c.decodeIfPresent(Mode.self, forKey: .mode) ?? d.mode
        inspect = try c.decodeIfPresent([EgressInspect].self, forKey: .inspect) ?? []
    }
}

/// Router-wide egress proxy settings.
public struct EgressSettings: Decodable, Sendable, Equatable {
    /// Fixed name → address answers consulted before DNS (pinning, and tests that control resolution).
    public var resolve: [String: String]
    public var connectTimeout: ConfigDuration

    enum CodingKeys: String, CodingKey {
        case resolve
        case connectTimeout = "connect_timeout"
    }

    public init(resolve: [String: String] = [:], connectTimeout: ConfigDuration = .seconds(10)) {
        self.resolve = resolve
        self.connectTimeout = connectTimeout
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        resolve = try c.decodeIfPresent([String: String].self, forKey: .resolve) ?? [:]
        connectTimeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .connectTimeout) ?? .seconds(10)
    }
}
