/// Where tenant token budgets are kept: the journal in `router.state_directory` (one host, the default), or a
/// PostgreSQL database that every router of a deployment shares, so one budget holds across all of them.
public struct LedgerSettings: Decodable, Sendable, Equatable {
    public enum Backend: String, ConfigEnum {
        case journal
        case postgres
    }

    public var backend: Backend
    /// Required when `backend` is `postgres`.
    public var postgres: PostgresLedgerSettings?
    /// A budget for all tenants together; PostgreSQL only.
    public var cluster: ClusterBudget?

    /// Budgets counted across every tenant of every router sharing the database.
    public struct ClusterBudget: Decodable, Sendable, Equatable {
        public var tokensPerDay: Int?
        public var tokensPerMonth: Int?

        enum CodingKeys: String, CodingKey {
            case tokensPerDay = "tokens_per_day"
            case tokensPerMonth = "tokens_per_month"
        }

        public init(tokensPerDay: Int? = nil, tokensPerMonth: Int? = nil) {
            self.tokensPerDay = tokensPerDay
            self.tokensPerMonth = tokensPerMonth
        }
    }

    enum CodingKeys: String, CodingKey {
        case backend, postgres, cluster
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        backend = try c.decodeIfPresent(Backend.self, forKey: .backend) ?? .journal
        postgres = try c.decodeIfPresent(PostgresLedgerSettings.self, forKey: .postgres)
        cluster = try c.decodeIfPresent(ClusterBudget.self, forKey: .cluster)
    }

    public init(backend: Backend = .journal, postgres: PostgresLedgerSettings? = nil, cluster: ClusterBudget? = nil) {
        self.backend = backend
        self.postgres = postgres
        self.cluster = cluster
    }
}

/// How a router reaches the shared PostgreSQL ledger, and what it does when it cannot. The connection keys are
/// ``PostgresConnectionSettings``, shared with the witness's PostgreSQL state.
public struct PostgresLedgerSettings: Decodable, Sendable, Equatable {
    public typealias TLSMode = PostgresConnectionSettings.TLSMode

    /// host, port, database, user, password_file, tls, ca_file, timeout, max_connections.
    public var connection: PostgresConnectionSettings
    /// How long the holds of a router that stops renewing its lease stay open before any router charges them.
    public var lease: ConfigDuration
    /// Tokens per tenant a router may spend while the database cannot be reached, charged to the database once
    /// it is back; nil: fail closed (503 `budget_unavailable`).
    public var offlineAllowance: Int?

    enum CodingKeys: String, CodingKey {
        case lease
        case offlineAllowance = "offline_allowance"
    }

    public init(from decoder: any Decoder) throws {
        connection = try PostgresConnectionSettings(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lease = try c.decodeIfPresent(ConfigDuration.self, forKey: .lease) ?? .seconds(30)
        offlineAllowance = try c.decodeIfPresent(Int.self, forKey: .offlineAllowance)
    }

    public init(
        host: String,
        port: Int = 5432,
        database: String,
        user: String,
        passwordFile: String? = nil,
        tls: TLSMode = .verifyFull,
        caFile: String? = nil,
        timeout: ConfigDuration = .seconds(2),
        lease: ConfigDuration = .seconds(30),
        maxConnections: Int = 8,
        offlineAllowance: Int? = nil
    ) {
        connection = PostgresConnectionSettings(
            host: host, port: port, database: database, user: user, passwordFile: passwordFile, tls: tls,
            caFile: caFile, timeout: timeout, maxConnections: maxConnections)
        self.lease = lease
        self.offlineAllowance = offlineAllowance
    }
}
