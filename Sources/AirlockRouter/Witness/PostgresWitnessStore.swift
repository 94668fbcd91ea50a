import AirlockPolicy
import AirlockReceipts
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// A ``WitnessStore`` in a PostgreSQL database, so that several witness processes (replicas behind one service,
/// one per zone) keep one state: a tree cosigned by one of them binds all of them, and a fork or a rollback
/// submitted to another is refused (the schema is in PostgresWitnessStore+Schema.swift).
///
/// A row per (witness key, log origin) holds the newest cosigned tree. The log's own key is not part of it: a log
/// has one tree whichever of its keys signs, so a second or rotated log key must not start a fresh history. The
/// witness's key is: witnesses with different keys are independent votes in a k-of-n policy and keep separate
/// state even when they share a database; replicas of one witness (the same key) share theirs.
///
/// ``replace(origin:expected:with:)`` is one statement, a compare-and-swap on the row: `INSERT … ON CONFLICT DO
/// NOTHING` when nothing is stored, `UPDATE … WHERE size = expected AND root = expected` otherwise. A commit is as
/// durable as the server's `synchronous_commit` makes it (on, by default).
///
/// The protocol is synchronous: each call blocks its thread until the database answers or `timeout` passes. Call it
/// from a thread that may block (``WitnessServer`` runs the witness on `NIOThreadPool`), never from an event loop
/// or Swift's cooperative pool. A database that cannot be reached is ``ReceiptLogError/Code/unavailable``: the
/// witness answers 503 and cosigns nothing until it is back.
public final class PostgresWitnessStore: WitnessStore {
    let connector: PostgresConnector
    let client: PostgresClient
    /// The witness's key (its verifier-key text), the first half of every row's key.
    let witness: String
    let logger: Logger
    /// The server's `synchronous_commit` when the store was opened; "off" loses cosigned trees in a crash.
    public let synchronousCommit: String
    private let runner: Task<Void, Never>

    init(connector: PostgresConnector, client: PostgresClient, witness: String, synchronousCommit: String, logger: Logger) {
        self.connector = connector
        self.client = client
        self.witness = witness
        self.synchronousCommit = synchronousCommit
        self.logger = logger
        runner = Task { await client.run() }
    }

    deinit {
        runner.cancel()
    }

    /// Ends the connection pool.
    public func close() {
        runner.cancel()
    }

    public func latest(origin: String) throws(ReceiptLogError) -> WitnessedTree? {
        try blocking("read") { try await self.read(origin) }
    }

    public func replace(origin: String, expected: WitnessedTree?, with new: WitnessedTree) throws(ReceiptLogError)
        -> WitnessStoreUpdate
    {
        let size = try Self.storable(new.size, origin: origin)
        let root = ByteBuffer(bytes: new.root.bytes)
        let witness = self.witness
        let logger = self.logger
        return try blocking("update") {
            let rows: PostgresRowSequence
            if let expected {
                let oldSize = try Self.storable(expected.size, origin: origin)
                let oldRoot = ByteBuffer(bytes: expected.root.bytes)
                rows = try await self.client.query(
                    """
                    UPDATE airlock_witness_tree SET size = \(size), root = \(root), updated = now()
                    WHERE witness = \(witness) AND origin = \(origin) AND size = \(oldSize) AND root = \(oldRoot)
                    RETURNING size
                    """,
                    logger: logger
                )
            } else {
                rows = try await self.client.query(
                    """
                    INSERT INTO airlock_witness_tree (witness, origin, size, root)
                    VALUES (\(witness), \(origin), \(size), \(root))
                    ON CONFLICT (witness, origin) DO NOTHING
                    RETURNING size
                    """,
                    logger: logger
                )
            }
            for try await _ in rows.decode(Int64.self) { return .replaced }
            // Another replica changed the row first: say what it holds now.
            return .conflict(current: try await self.read(origin))
        }
    }

    private func read(_ origin: String) async throws -> WitnessedTree? {
        let rows = try await client.query(
            "SELECT size, root FROM airlock_witness_tree WHERE witness = \(witness) AND origin = \(origin)",
            logger: logger
        )
        for try await (size, root) in rows.decode((Int64, ByteBuffer).self) {
            guard size >= 0, let hash = MerkleHash(bytes: root.readableBytesView) else {
                throw ReceiptLogError(
                    .integrityAlarm,
                    "the witness state row for '\(origin)' in database \(connector.settings.database) at \(connector.address) holds size \(size) and a root of \(root.readableBytes) bytes; restore the table airlock_witness_tree from a backup (deleting the row would let a rolled-back log be cosigned)"
                )
            }
            return WitnessedTree(size: UInt64(size), root: hash)
        }
        return nil
    }

    /// A tree size as the database stores it (bigint).
    private static func storable(_ size: UInt64, origin: String) throws(ReceiptLogError) -> Int64 {
        guard let value = Int64(exactly: size) else {
            throw ReceiptLogError(
                .invalidRecord,
                "tree size \(size) of '\(origin)' is larger than the witness state in PostgreSQL stores (2^63-1)")
        }
        return value
    }

    /// Runs `body` on the event loops and waits for it here, for at most the configured timeout.
    private func blocking<T: Sendable>(
        _ operation: String,
        _ body: @escaping @Sendable () async throws -> T
    ) throws(ReceiptLogError) -> T {
        let limit = connector.settings.timeout.duration
        let promise = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: T.self)
        promise.completeWithTask { try await withDeadline(limit, "witness state \(operation)", body) }
        do {
            return try promise.futureResult.wait()
        } catch let error as ReceiptLogError {
            throw error
        } catch {
            let settings = connector.settings
            throw ReceiptLogError(
                .unavailable,
                "cannot \(operation) the witness state in database \(settings.database) at \(connector.address) as \(settings.user) (\(PostgresConnector.describe(error))); check that the server is up and reachable"
            )
        }
    }
}
