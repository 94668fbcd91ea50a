import AirlockPolicy
import AirlockReceipts
import AirlockTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import AirlockRouter

/// The witness state in a real PostgreSQL server started for each test (no mocks): the compare-and-swap that
/// ``WitnessStore`` promises, shared by replicas of one witness, separate between witnesses, and failing closed
/// while the database is away. The store blocks its caller, so every call runs off the cooperative pool.
@Suite(
    "PostgreSQL witness state",
    .enabled(
        if: PostgresServer.unavailable == nil,
        "needs PostgreSQL's server binaries (scripts/install-deps.sh installs them) and, as root, setpriv to run it as nobody"
    ),
    .serialized,
    .timeLimit(.minutes(3))
)
struct PostgresWitnessStoreTests {
    static let logger = Logger(label: "test.witness")
    static let origin = "router.test/receipts"

    static func settings(_ server: PostgresServer, timeout: ConfigDuration = .seconds(20)) -> PostgresConnectionSettings {
        PostgresConnectionSettings(
            host: "127.0.0.1", port: server.port, database: server.database, user: server.user,
            passwordFile: server.passwordFile, tls: .disable, timeout: timeout, maxConnections: 2)
    }

    static func store(
        _ server: PostgresServer, key: CosignerKey, timeout: ConfigDuration = .seconds(20)
    ) async throws -> PostgresWitnessStore {
        try await PostgresWitnessStore.open(
            settings: settings(server, timeout: timeout), source: "test", witness: key, logger: logger,
            startTimeout: .seconds(60))
    }

    static func tree(_ size: UInt64, _ salt: String = "") -> WitnessedTree {
        WitnessedTree(size: size, root: RFC6962.leafHash(Array("tree \(size)\(salt)".utf8)))
    }

    @Test("replace is a compare-and-swap: from nothing once, from the stored tree only; a conflict says what is stored")
    func compareAndSwap() async throws {
        let server = try await PostgresServer.start()
        let store = try await Self.store(server, key: try Cosigner.generate(name: "witness.test/w1").key)
        defer { store.close() }
        let origin = Self.origin
        let (a, b, c, d) = (Self.tree(5), Self.tree(5, "fork"), Self.tree(9), Self.tree(9, "fork"))
        let (before, updates, after, other) = try await offPool {
            let before = try store.latest(origin: origin)
            let updates = [
                try store.replace(origin: origin, expected: nil, with: a),
                // A second insert from nothing loses: a replica that read "nothing" before the first one stored.
                try store.replace(origin: origin, expected: nil, with: b),
                try store.replace(origin: origin, expected: b, with: c),
                try store.replace(origin: origin, expected: a, with: c),
                try store.replace(origin: origin, expected: a, with: d),
            ]
            return (before, updates, try store.latest(origin: origin), try store.latest(origin: "other.test/receipts"))
        }
        #expect(before == nil)
        #expect(updates == [.replaced, .conflict(current: a), .conflict(current: a), .replaced, .conflict(current: c)])
        #expect(after == c)
        #expect(other == nil)
        let stored = try await server.psql("SELECT size, encode(root, 'base64') FROM airlock_witness_tree")
        #expect(stored == "9|\(c.root.base64)")
    }

    @Test("replicas of one witness share a row; another witness key in the same database keeps its own")
    func sharedAndSeparate() async throws {
        let server = try await PostgresServer.start()
        let w1 = try Cosigner.generate(name: "witness.test/w1").key
        let w2 = try Cosigner.generate(name: "witness.test/w2").key
        let (replicaA, replicaB) = (try await Self.store(server, key: w1), try await Self.store(server, key: w1))
        let other = try await Self.store(server, key: w2)
        defer { [replicaA, replicaB, other].forEach { $0.close() } }
        let origin = Self.origin
        let (five, nine) = (Self.tree(5), Self.tree(9))
        let seen = try await offPool { () throws -> [WitnessedTree?] in
            _ = try replicaA.replace(origin: origin, expected: nil, with: five)
            let fromB = try replicaB.latest(origin: origin)
            let conflict = try replicaB.replace(origin: origin, expected: nil, with: nine)
            guard case .conflict(let current) = conflict else { return [] }
            return [fromB, current, try other.latest(origin: origin)]
        }
        #expect(seen == [five, five, nil])
    }

    @Test("sixteen concurrent swaps from one stored tree on two replicas: exactly one succeeds")
    func concurrentSwaps() async throws {
        let server = try await PostgresServer.start()
        let key = try Cosigner.generate(name: "witness.test/w1").key
        let replicas = [try await Self.store(server, key: key), try await Self.store(server, key: key)]
        defer { replicas.forEach { $0.close() } }
        let origin = Self.origin
        let start = Self.tree(5)
        _ = try await offPool { try replicas[0].replace(origin: origin, expected: nil, with: start) }
        let outcomes = try await withThrowingTaskGroup(of: (Int, WitnessStoreUpdate).self) { group in
            for attempt in 0..<16 {
                group.addTask {
                    let update = try await offPool {
                        try replicas[attempt % 2].replace(
                            origin: origin, expected: start, with: Self.tree(6, "attempt \(attempt)"))
                    }
                    return (attempt, update)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let winners = outcomes.filter { $0.1 == .replaced }.map(\.0)
        #expect(winners.count == 1, "\(outcomes)")
        let winner = try #require(winners.first)
        for (attempt, outcome) in outcomes where attempt != winner {
            #expect(outcome == .conflict(current: Self.tree(6, "attempt \(winner)")))
        }
    }

    @Test("a stopped database is 'unavailable' with where and what to do, never a stale answer; it works again once back")
    func databaseDown() async throws {
        let server = try await PostgresServer.start()
        let store = try await Self.store(
            server, key: try Cosigner.generate(name: "witness.test/w1").key, timeout: .seconds(2))
        defer { store.close() }
        let origin = Self.origin
        _ = try await offPool { try store.replace(origin: origin, expected: nil, with: Self.tree(5)) }
        try await server.stop()
        let down = try await offPool { () -> ReceiptLogError? in
            do throws(ReceiptLogError) {
                _ = try store.replace(origin: origin, expected: Self.tree(5), with: Self.tree(9))
                return nil
            } catch {
                return error
            }
        }
        let error = try #require(down)
        #expect(error.code == .unavailable)
        #expect(
            error.description.contains("database airlock at 127.0.0.1:\(server.port)")
                && error.description.contains("check that the server is up"),
            "\(error)")
        try await server.startServer()
        let back = await eventually(seconds: 30) {
            (try? await offPool { try store.replace(origin: origin, expected: Self.tree(5), with: Self.tree(9)) })
                == .replaced
        }
        #expect(back)
        #expect(try await offPool { try store.latest(origin: origin) } == Self.tree(9))
    }

    @Test("start-up: a database at a newer schema version, or a wrong password, is refused with what to do")
    func startRefusals() async throws {
        let server = try await PostgresServer.start()
        let key = try Cosigner.generate(name: "witness.test/w1").key
        try await Self.store(server, key: key).close()
        try await server.psql("INSERT INTO airlock_witness_schema (version) VALUES (99)")
        await #expect {
            try await Self.store(server, key: key)
        } throws: { error in
            "\(error)".contains("witness state schema version 99, newer than this witness's 1; upgrade the witness")
        }
        try await server.psql("DELETE FROM airlock_witness_schema WHERE version = 99")
        let wrong = server.directory + "/client/wrong-password"
        try TempDirectory.write(wrong, "not the password\n", mode: 0o600)
        var settings = Self.settings(server)
        settings.passwordFile = wrong
        await #expect {
            try await PostgresWitnessStore.open(
                settings: settings, source: "/etc/airlock/witness-db.yaml", witness: key, logger: Self.logger,
                startTimeout: .seconds(60))
        } throws: { error in
            "\(error)".contains("/etc/airlock/witness-db.yaml: cannot use the witness state database airlock at 127.0.0.1:\(server.port)")
                && "\(error)".contains("password")
        }
    }
}
