import AirlockPolicy
import AirlockReceipts
import Logging
import PostgresNIO

extension PostgresWitnessStore {
    /// The schema this witness writes. A database at a newer version is refused at start-up.
    public static let schemaVersion: Int32 = 1
    /// The advisory lock that serialises schema creation: the ledger's lock class ("AIRL"), scope 1 (the
    /// ledger's is 0), so a witness and routers may share one database.
    static let schemaLock: (Int32, Int32) = (PostgresLedger.lockClass, 1)

    /// Version 1 (docs/operations.md, "Run a witness"). `witness` is the witness's verifier key text, `origin`
    /// the log's checkpoint origin line, `root` the 32-byte root hash of the newest tree cosigned at `size`.
    static let schema: [PostgresQuery] = [
        """
        CREATE TABLE IF NOT EXISTS airlock_witness_schema (
            version integer PRIMARY KEY,
            created timestamptz NOT NULL DEFAULT now()
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS airlock_witness_tree (
            witness text NOT NULL,
            origin text NOT NULL,
            size bigint NOT NULL CHECK (size >= 0),
            root bytea NOT NULL CHECK (octet_length(root) = 32),
            updated timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (witness, origin)
        )
        """,
    ]

    /// Connects, creates or checks the schema, and returns the store for `witness`. `source` names the settings
    /// in errors (the `--state-postgres` file); the password is read from `password_file` here.
    public static func open(
        settings: PostgresConnectionSettings,
        source: String,
        witness: CosignerKey,
        logger: Logger,
        startTimeout: Duration = .seconds(10)
    ) async throws -> PostgresWitnessStore {
        let password = try PostgresConnector.password(settings, source: source)
        let connector = try PostgresConnector(
            settings, source: source, password: password, applicationName: "airlock-witness")
        let startTimeout = max(settings.timeout.duration, startTimeout)
        let synchronousCommit: String
        do {
            synchronousCommit = try await withDeadline(startTimeout, "witness state schema") {
                try await connector.withConnection(connectTimeout: startTimeout, logger: logger) { connection in
                    try await Self.prepareSchema(on: connection, logger: logger)
                }
            }
        } catch {
            throw RouterStartError(
                "\(source): cannot use the witness state database \(settings.database) at \(connector.address) as "
                    + "\(settings.user): \(PostgresConnector.describe(error)). Check the server is up and reachable "
                    + "from the witness, the credentials in password_file, and the TLS settings."
            )
        }
        return PostgresWitnessStore(
            connector: connector, client: connector.client(logger: logger), witness: witness.text,
            synchronousCommit: synchronousCommit, logger: logger)
    }

    /// Creates the tables once, refuses a database written by a newer schema, and returns the server's
    /// `synchronous_commit`.
    static func prepareSchema(on connection: PostgresConnection, logger: Logger) async throws -> String {
        let version = try await PostgresConnector.createSchema(
            on: connection,
            lock: schemaLock,
            statements: Self.schema,
            versionTable: "airlock_witness_schema",
            version: Self.schemaVersion,
            logger: logger
        ) ?? Self.schemaVersion
        guard version <= Self.schemaVersion else {
            throw RouterStartError(
                "the database holds witness state schema version \(version), newer than this witness's \(Self.schemaVersion); upgrade the witness"
            )
        }
        let rows = try await connection.query("SHOW synchronous_commit", logger: logger)
        for try await value in rows.decode(String.self) { return value }
        return "unknown"
    }
}
