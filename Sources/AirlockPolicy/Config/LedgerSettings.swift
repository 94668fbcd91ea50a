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

/// How a router reaches the shared PostgreSQL ledger, and what it does when it cannot.
public struct PostgresLedgerSettings: Decodable, Sendable, Equatable {
    public enum TLSMode: String, ConfigEnum {
        /// Plain TCP: only for a server on the same host or a network the operator trusts.
        case disable
        /// TLS required, the server's certificate verified against `ca_file` (or the system roots) and its name.
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var database: String
    public var user: String
    /// A file holding the password, readable by the router user only; nil: the server asks for none.
    public var passwordFile: String?
    public var tls: TLSMode
    /// PEM certificates that sign the server's certificate; nil: the system's trust roots.
    public var caFile: String?
    /// The most any one database call may take, connecting included.
    public var timeout: ConfigDuration
    /// How long the holds of a router that stops renewing its lease stay open before any router charges them.
    public var lease: ConfigDuration
    public var maxConnections: Int
    /// Tokens per tenant a router may spend while the database cannot be reached, charged to the database once
    /// it is back; nil: fail closed (503 `budget_unavailable`).
    public var offlineAllowance: Int?

    enum CodingKeys: String, CodingKey {
        case host, port, database, user, tls, timeout, lease
        case passwordFile = "password_file"
        case caFile = "ca_file"
        case maxConnections = "max_connections"
        case offlineAllowance = "offline_allowance"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        host = try c.decode(String.self, forKey: .host)
        port = try c.decodeIfPresent(Int.self, forKey: .port) ?? 5432
        database = try c.decode(String.self, forKey: .database)
        user = try c.decode(String.self, forKey: .user)
        passwordFile = try c.decodeIfPresent(String.self, forKey: .passwordFile)
        tls = try c.decodeIfPresent(TLSMode.self, forKey: .tls) ?? .verifyFull
        caFile = try c.decodeIfPresent(String.self, forKey: .caFile)
        timeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .timeout) ?? .seconds(2)
        lease = try c.decodeIfPresent(ConfigDuration.self, forKey: .lease) ?? .seconds(30)
        maxConnections = try c.decodeIfPresent(Int.self, forKey: .maxConnections) ?? 8
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
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.passwordFile = passwordFile
        self.tls = tls
        self.caFile = caFile
        self.timeout = timeout
        self.lease = lease
        self.maxConnections = maxConnections
        self.offlineAllowance = offlineAllowance
    }
}
