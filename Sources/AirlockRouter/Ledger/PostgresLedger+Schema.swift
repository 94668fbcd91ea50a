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
        let tls = try tlsConfiguration(settings)
        let timeout = settings.timeout.duration
        // Start-up is not on any request's path: the first logins (SCRAM) and the schema get more time.
        let startTimeout = max(timeout, startTimeout)
        let milliseconds = max(1, settings.timeout.nanoseconds / 1_000_000)
        // The server ends what the router has given up on: a statement, a lock wait, a transaction left open.
        let parameters = [
            ("statement_timeout", "\(milliseconds)"),
            ("lock_timeout", "\(milliseconds)"),
            ("idle_in_transaction_session_timeout", "\(max(1_000, milliseconds * 2))"),
            ("application_name", "airlock-router"),
        ]
        var configuration = PostgresClient.Configuration(
            host: settings.host,
            port: settings.port,
            username: settings.user,
            password: password,
            database: settings.database,
            tls: tls.map { .require($0) } ?? .disable
        )
        configuration.options.connectTimeout = timeout
        configuration.options.maximumConnections = settings.maxConnections
        configuration.options.minimumConnections = 1
        configuration.options.additionalStartupParameters = parameters
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let ledger = PostgresLedger(
            client: client,
            settings: settings,
            tenants: tenants,
            cluster: cluster,
            routerID: makeRouterID(),
            metrics: metrics,
            logger: logger
        )
        do {
            // One connection of its own first: the pool retries a refused login quietly until the deadline, this
            // says what the server said (wrong password, unknown database, certificate not trusted).
            var probe = PostgresConnection.Configuration(
                host: settings.host,
                port: settings.port,
                username: settings.user,
                password: password,
                database: settings.database,
                tls: try tls.map { .require(try NIOSSLContext(configuration: $0)) } ?? .disable
            )
            probe.options.connectTimeout = TimeAmount.nanoseconds(Int64(startTimeout.components.seconds) * 1_000_000_000)
            probe.options.additionalStartupParameters = parameters
            let logger = ledger.logger
            let configuration = probe
            try await ledger.call("schema", within: startTimeout) {
                let connection = try await PostgresConnection.connect(
                    on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: 0, logger: logger
                ).get()
                do {
                    try await Self.prepareSchema(on: connection, logger: logger)
                } catch {
                    try? await connection.close()
                    throw error
                }
                try await connection.close()
            }
            try await ledger.call("lease", within: startTimeout) { try await ledger.renewLease() }
        } catch {
            ledger.stopClient()
            throw RouterStartError(
                "ledger.postgres: cannot use the ledger database \(settings.database) at \(settings.host):\(settings.port) "
                    + "as \(settings.user): \(describe(error)). Check the server is up and reachable from the router, the "
                    + "credentials in password_file, and the TLS settings."
            )
        }
        logger.info("shared budget ledger ready", metadata: ["ledger.router": "\(ledger.routerID)", "ledger.host": "\(settings.host):\(settings.port)"])
        return ledger
    }

    /// The client's TLS settings; nil with `tls: disable`.
    static func tlsConfiguration(_ settings: PostgresLedgerSettings) throws -> TLSConfiguration? {
        switch settings.tls {
        case .disable:
            return nil
        case .verifyFull:
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .fullVerification
            tls.minimumTLSVersion = .tlsv12
            if let ca = settings.caFile {
                guard access(ca, R_OK) == 0 else {
                    throw RouterStartError("ledger.postgres.ca_file: cannot read \(ca) (\(String(cString: strerror(errno)))). Mount the CA certificate that signs the database server's certificate there.")
                }
                tls.trustRoots = .file(ca)
            }
            return tls
        }
    }

    /// A router id that no other run shares: the host name, the process id and random bits.
    static func makeRouterID() -> String {
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, name.count) == 0 ? String(cString: name) : "router"
        let safe = String(host.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") }.prefix(48))
        return "\(safe.isEmpty ? "router" : safe)-\(getpid())-\(RequestIDs.make().prefix(8))"
    }

    /// Creates the tables once (serialised by an advisory lock: concurrent `CREATE TABLE IF NOT EXISTS` can
    /// collide) and refuses a database written by a newer schema. A schema already in place is left alone: even
    /// `CREATE INDEX IF NOT EXISTS` takes a lock on its table that waits for every running router's writes, and
    /// deadlocks against them.
    static func prepareSchema(on connection: PostgresConnection, logger: Logger) async throws {
        let version = try await connection.withTransaction(logger: logger) { connection -> Int32 in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lockClass), 0)", logger: logger)
            if let installed = try await installedVersion(on: connection, logger: logger), installed >= Self.schemaVersion {
                return installed
            }
            for statement in Self.schema {
                try await connection.query(statement, logger: logger)
            }
            try await connection.query(
                "INSERT INTO airlock_ledger_schema (version) VALUES (\(Self.schemaVersion)) ON CONFLICT DO NOTHING",
                logger: logger
            )
            let rows = try await connection.query("SELECT max(version) FROM airlock_ledger_schema", logger: logger)
            for try await version in rows.decode(Int32.self) { return version }
            return Self.schemaVersion
        }
        guard version <= Self.schemaVersion else {
            throw LedgerUnavailable(reason: "the database holds ledger schema version \(version), newer than this router's \(Self.schemaVersion); upgrade the router")
        }
    }

    /// The newest schema version the database records, or nil before the ledger's first start.
    private static func installedVersion(on connection: PostgresConnection, logger: Logger) async throws -> Int32? {
        let exists = try await connection.query("SELECT to_regclass('airlock_ledger_schema') IS NOT NULL", logger: logger)
        var found = false
        for try await value in exists.decode(Bool.self) { found = value }
        guard found else { return nil }
        let rows = try await connection.query("SELECT max(version) FROM airlock_ledger_schema", logger: logger)
        var version: Int32?
        for try await value in rows.decode(Int32?.self) { version = value }
        return version
    }

    /// A description of a database error that names the server's message (PSQLError's own is deliberately vague).
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return "server said: \(message)" }
            if let underlying = error.underlying { return "\(error.code): \(underlying)" }
            return "\(error.code)"
        }
        return "\(error)"
    }
}
