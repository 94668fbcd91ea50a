#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// Connections to a PostgreSQL server made one way for everything Airlock keeps there (the shared budget ledger,
/// the witness state): the password from an owner-only file, TLS verify-full with an optional CA, and session
/// limits so the server ends what a client has given up on.
struct PostgresConnector: Sendable {
    let settings: PostgresConnectionSettings
    /// Where the settings came from, for error messages: `ledger.postgres`, or the witness's settings file.
    let source: String
    private let password: String?
    private let tls: TLSConfiguration?
    private let parameters: [(String, String)]

    /// `password` comes from `password_file`, read by ``password(_:source:)`` before privileges are dropped.
    init(
        _ settings: PostgresConnectionSettings,
        source: String,
        password: String?,
        applicationName: String
    ) throws {
        self.settings = settings
        self.source = source
        self.password = password
        tls = try Self.tlsConfiguration(settings, source: source)
        let milliseconds = max(1, settings.timeout.nanoseconds / 1_000_000)
        // The server ends what the client has given up on: a statement, a lock wait, a transaction left open.
        parameters = [
            ("statement_timeout", "\(milliseconds)"),
            ("lock_timeout", "\(milliseconds)"),
            ("idle_in_transaction_session_timeout", "\(max(1_000, milliseconds * 2))"),
            ("application_name", applicationName),
        ]
    }

    /// The password in `settings.passwordFile` (mode 0600 or 0640, owned by this process's user); nil without one.
    static func password(_ settings: PostgresConnectionSettings, source: String) throws -> String? {
        try settings.passwordFile.map {
            try Credential.load(.file($0), owner: "\(source).password_file").secret
        }
    }

    /// `host:port`, for messages.
    var address: String { "\(settings.host):\(settings.port)" }

    /// A pool of up to `max_connections`, kept at one at least; run it (`client.run()`) for as long as it is used.
    func client(logger: Logger) -> PostgresClient {
        var configuration = PostgresClient.Configuration(
            host: settings.host,
            port: settings.port,
            username: settings.user,
            password: password,
            database: settings.database,
            tls: tls.map { .require($0) } ?? .disable
        )
        configuration.options.connectTimeout = settings.timeout.duration
        configuration.options.maximumConnections = settings.maxConnections
        configuration.options.minimumConnections = 1
        configuration.options.additionalStartupParameters = parameters
        return PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    /// Runs `body` on one connection of its own, then closes it. Start-up uses this rather than the pool, which
    /// retries a refused login quietly until its deadline: this says what the server said (wrong password, unknown
    /// database, certificate not trusted).
    func withConnection<T: Sendable>(
        connectTimeout: Duration,
        logger: Logger,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        var configuration = PostgresConnection.Configuration(
            host: settings.host,
            port: settings.port,
            username: settings.user,
            password: password,
            database: settings.database,
            tls: try tls.map { .require(try NIOSSLContext(configuration: $0)) } ?? .disable
        )
        configuration.options.connectTimeout = TimeAmount.nanoseconds(
            Int64(connectTimeout.components.seconds) * 1_000_000_000)
        configuration.options.additionalStartupParameters = parameters
        let connection = try await PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: 0, logger: logger
        ).get()
        do {
            let result = try await body(connection)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Creates a schema once: `statements` (each `CREATE … IF NOT EXISTS`) under the advisory lock `lock`, since
    /// concurrent `CREATE TABLE IF NOT EXISTS` can collide; then notes `version` in `versionTable` (a table of ours
    /// with an integer column `version`, created by `statements`) and returns the highest version recorded, which
    /// the caller compares with its own. A schema already at `version` or newer is left alone: even `CREATE INDEX IF
    /// NOT EXISTS` takes a share lock on its table, which waits for every running process's writes and deadlocked
    /// routers starting beside others.
    static func createSchema(
        on connection: PostgresConnection,
        lock: (Int32, Int32),
        statements: [PostgresQuery],
        versionTable: String,
        version: Int32,
        logger: Logger
    ) async throws -> Int32? {
        try await connection.withTransaction(logger: logger) { connection -> Int32? in
            try await connection.query("SELECT pg_advisory_xact_lock(\(lock.0), \(lock.1))", logger: logger)
            if let installed = try await installedVersion(versionTable, on: connection, logger: logger), installed >= version {
                return installed
            }
            for statement in statements {
                try await connection.query(statement, logger: logger)
            }
            try await connection.query(
                "INSERT INTO \(unescaped: versionTable) (version) VALUES (\(version)) ON CONFLICT DO NOTHING", logger: logger)
            return try await installedVersion(versionTable, on: connection, logger: logger)
        }
    }

    /// The newest version `table` records, or nil when the table does not exist or is empty.
    private static func installedVersion(_ table: String, on connection: PostgresConnection, logger: Logger) async throws -> Int32? {
        let exists = try await connection.query("SELECT to_regclass(\(table)) IS NOT NULL", logger: logger)
        var found = false
        for try await value in exists.decode(Bool.self) { found = value }
        guard found else { return nil }
        let rows = try await connection.query("SELECT max(version) FROM \(unescaped: table)", logger: logger)
        var newest: Int32?
        for try await value in rows.decode(Int32?.self) { newest = value }
        return newest
    }

    /// The client's TLS settings; nil with `tls: disable`.
    static func tlsConfiguration(_ settings: PostgresConnectionSettings, source: String) throws -> TLSConfiguration? {
        switch settings.tls {
        case .disable:
            return nil
        case .verifyFull:
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .fullVerification
            tls.minimumTLSVersion = .tlsv12
            if let ca = settings.caFile {
                guard access(ca, R_OK) == 0 else {
                    throw RouterStartError(
                        "\(source).ca_file: cannot read \(ca) (\(String(cString: strerror(errno)))). Mount the CA certificate that signs the database server's certificate there."
                    )
                }
                tls.trustRoots = .file(ca)
            }
            return tls
        }
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
