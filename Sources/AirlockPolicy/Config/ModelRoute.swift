/// An agent-facing model name and the upstreams that serve it, in failover order.
public struct ModelRoute: Decodable, Sendable {
    public struct Target: Decodable, Sendable, Equatable {
        /// Name of an entry in `upstreams`.
        public var upstream: String
        /// The model name sent upstream (aliasing); defaults to the route's name.
        public var model: String?

        public init(upstream: String, model: String? = nil) {
            self.upstream = upstream
            self.model = model
        }
    }

    public var name: String
    public var api: APIFamily
    public var targets: [Target]

    public init(name: String, api: APIFamily, targets: [Target]) {
        self.name = name
        self.api = api
        self.targets = targets
    }
}

/// Retry of failed upstream attempts: full-jitter exponential backoff, bounded.
public struct RetrySettings: Decodable, Sendable, Equatable {
    /// Total attempts per upstream, the first included.
    public var attempts: Int
    public var base: ConfigDuration
    public var cap: ConfigDuration
    /// Longest `Retry-After` honoured; longer values are clamped to this.
    public var maxRetryAfter: ConfigDuration

    enum CodingKeys: String, CodingKey {
        case attempts, base, cap
        case maxRetryAfter = "max_retry_after"
    }

    public init(from decoder: any Decoder) throws {
        let d = RetrySettings()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        attempts = try c.decodeIfPresent(Int.self, forKey: .attempts) ?? d.attempts
        base = try c.decodeIfPresent(ConfigDuration.self, forKey: .base) ?? d.base
        cap = try c.decodeIfPresent(ConfigDuration.self, forKey: .cap) ?? d.cap
        maxRetryAfter = try c.decodeIfPresent(ConfigDuration.self, forKey: .maxRetryAfter) ?? d.maxRetryAfter
    }

    public init(
        attempts: Int = 3,
        base: ConfigDuration = .milliseconds(250),
        cap: ConfigDuration = .seconds(8),
        maxRetryAfter: ConfigDuration = .seconds(30)
    ) {
        self.attempts = attempts
        self.base = base
        self.cap = cap
        self.maxRetryAfter = maxRetryAfter
    }
}
