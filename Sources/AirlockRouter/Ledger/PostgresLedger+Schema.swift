#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

extension PostgresLedger {
    /// The schema this router writes. A database at a newer version is refused at start-up.
    public static let schemaVersion: Int32 = 1
    /// The first key of every advisory lock the ledger takes ("AIRL").
    static let lockClass: Int32 = 0x4149_524C
    /// The scope of the cluster's advisory lock; never a tenant name (those are `[a-z0-9._-]`).
    static let clusterScope = "*"

    /// Version 1 (docs/operations.md, "Shared ledger on PostgreSQL"). Tenant names, days ("YYYY-MM-DD") and
    /// months ("YYYY-MM") are UTC, as the routers compute them.
    static let schema: [PostgresQuery] = [
        """
        CREATE TABLE IF NOT EXISTS airlock_ledger_schema (
            version integer PRIMARY KEY,
            created timestamptz NOT NULL DEFAULT now()
        )
        """,
        // Per tenant and day: tokens charged (settled, swept, reconciled) and held by open reservations.
        """
        CREATE TABLE IF NOT EXISTS airlock_budget (
            tenant text NOT NULL,
            day text NOT NULL,
            month text NOT NULL,
            charged bigint NOT NULL DEFAULT 0 CHECK (charged >= 0),
            held bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
            PRIMARY KEY (tenant, day)
        )
        """,
        "CREATE INDEX IF NOT EXISTS airlock_budget_by_month ON airlock_budget (month)",
        // One row per open reservation; deleted by its settlement or by a sweep, whichever comes first.
        """
        CREATE TABLE IF NOT EXISTS airlock_hold (
            id text PRIMARY KEY,
            router text NOT NULL,
            tenant text NOT NULL,
            day text NOT NULL,
            tokens bigint NOT NULL CHECK (tokens >= 0),
            created timestamptz NOT NULL DEFAULT now()
        )
        """,
        "CREATE INDEX IF NOT EXISTS airlock_hold_by_router ON airlock_hold (router)",
        // A router's lease: its holds stay open while `expires` is in the future (the server's clock).
        """
        CREATE TABLE IF NOT EXISTS airlock_router (
            id text PRIMARY KEY,
            expires timestamptz NOT NULL,
            started timestamptz NOT NULL DEFAULT now()
        )
        """,
        // Charges made under the offline allowance, by reservation id: each is added once however often it is sent.
        """
        CREATE TABLE IF NOT EXISTS airlock_charge (
            id text PRIMARY KEY,
            tenant text NOT NULL,
            day text NOT NULL,
            tokens bigint NOT NULL CHECK (tokens >= 0),
            recorded timestamptz NOT NULL DEFAULT now()
        )
        """,
    ]

    /// Opens the shared ledger outside a router (benchmarks, tools): as the router does, without metrics.
    public static func open(
        settings: PostgresLedgerSettings,
        password: String?,
        tenants: [TenantPolicy],
        logger: Logger
    ) async throws -> PostgresLedger {
        try await start(settings: settings, password: password, tenants: tenants, cluster: nil, metrics: nil, logger: logger)
    }

    /// Connects, creates or checks the schema, and takes a lease. `password` comes from the router-owned
    /// `password_file`, read before privileges are dropped.
    static func start(
        settings: PostgresLedgerSettings,
        password: String?,
        tenants: [TenantPolicy],
        cluster: LedgerSettings.ClusterBudget?,
        metrics: RouterMetrics?,
        logger: Logger,
        startTimeout: Duration = .seconds(10)
    ) async throws -> PostgresLedger {
        let connector = try PostgresConnector(
            settings.connection, source: "ledger.postgres", password: password, applicationName: "airlock-router")
        // Start-up is not on any request's path: the first logins (SCRAM) and the schema get more time.
        let startTimeout = max(settings.connection.timeout.duration, startTimeout)
        let ledger = PostgresLedger(
            client: connector.client(logger: logger),
            settings: settings,
            tenants: tenants,
            cluster: cluster,
            routerID: makeRouterID(),
            metrics: metrics,
            logger: logger
        )
        do {
            let logger = ledger.logger
            try await ledger.call("schema", within: startTimeout) {
                try await connector.withConnection(connectTimeout: startTimeout, logger: logger) { connection in
                    try await Self.prepareSchema(on: connection, logger: logger)
                }
            }
            try await ledger.call("lease", within: startTimeout) { try await ledger.renewLease() }
        } catch {
            ledger.stopClient()
            let c = settings.connection
            throw RouterStartError(
                "ledger.postgres: cannot use the ledger database \(c.database) at \(connector.address) "
                    + "as \(c.user): \(PostgresConnector.describe(error)). Check the server is up and reachable from the router, the "
                    + "credentials in password_file, and the TLS settings."
            )
        }
        logger.info("shared budget ledger ready", metadata: ["ledger.router": "\(ledger.routerID)", "ledger.host": "\(connector.address)"])
        return ledger
    }

    /// A router id that no other run shares: the host name, the process id and random bits.
    static func makeRouterID() -> String {
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, name.count) == 0 ? String(cString: name) : "router"
        let safe = String(host.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") }.prefix(48))
        return "\(safe.isEmpty ? "router" : safe)-\(getpid())-\(RequestIDs.make().prefix(8))"
    }

    /// Creates the tables once (serialised by an advisory lock: concurrent `CREATE TABLE IF NOT EXISTS` can
    /// collide) and refuses a database written by a newer schema.
    static func prepareSchema(on connection: PostgresConnection, logger: Logger) async throws {
        let version = try await PostgresConnector.createSchema(
            on: connection,
            lock: (Self.lockClass, 0),
            statements: Self.schema,
            versionTable: "airlock_ledger_schema",
            version: Self.schemaVersion,
            logger: logger
        ) ?? Self.schemaVersion
        guard version <= Self.schemaVersion else {
            throw LedgerUnavailable(reason: "the database holds ledger schema version \(version), newer than this router's \(Self.schemaVersion); upgrade the router")
        }
    }
}
