import Foundation
import Testing

@testable import AirlockPolicy

/// `ledger:`: the journal by default; PostgreSQL with every key validated, each bad value named by its key path.
@Suite("Ledger configuration")
struct LedgerConfigTests {
    static func config(_ ledger: String) -> String {
        AirlockConfigTests.valid + "\nledger:\n" + ledger
    }

    static let postgres = """
          backend: postgres
          postgres:
            host: db.internal
            database: airlock
            user: router
            password_file: /run/secrets/airlock-db/password
        """

    func load(_ text: String) throws -> LoadedConfig {
        try ConfigLoader.load(text: text, path: "test.yaml")
    }

    @Test("without `ledger` the journal is used; a PostgreSQL block gets the documented defaults")
    func defaults() throws {
        #expect(try load(AirlockConfigTests.valid).config.ledger == LedgerSettings())
        let ledger = try load(Self.config(Self.postgres)).config.ledger
        #expect(ledger.backend == .postgres)
        let pg = try #require(ledger.postgres)
        #expect(pg.connection.port == 5432 && pg.connection.tls == .verifyFull && pg.connection.caFile == nil)
        #expect(pg.connection.timeout == .seconds(2) && pg.lease == .seconds(30) && pg.connection.maxConnections == 8)
        #expect(pg.offlineAllowance == nil)
        #expect(ledger.cluster == nil)
    }

    @Test("bad ledger settings are refused with their key path and what to do", arguments: [
        (postgres + "\n    port: 0", "ledger.postgres.port", "out of range"),
        (postgres + "\n    port: 70000", "ledger.postgres.port", "out of range"),
        (postgres + "\n    timeout: 5ms", "ledger.postgres.timeout", "out of range"),
        (postgres + "\n    timeout: 2m", "ledger.postgres.timeout", "out of range"),
        (postgres + "\n    lease: 1s", "ledger.postgres.lease", "out of range"),
        (postgres + "\n    timeout: 20s\n    lease: 30s", "ledger.postgres.lease", "three database timeouts"),
        (postgres + "\n    max_connections: 0", "ledger.postgres.max_connections", "out of range"),
        (postgres + "\n    offline_allowance: 0", "ledger.postgres.offline_allowance", "out of range"),
        (postgres + "\n    offline_allowance: 9223372036854775807", "ledger.postgres.offline_allowance", "out of range"),
        (postgres + "\n    tls: prefer", "ledger.postgres.tls", "disable, verify-full"),
        (postgres + "\n    tls: disable\n    ca_file: /etc/ca.pem", "ledger.postgres.ca_file", "never be used"),
        (postgres + "\n    ca_file: ca.pem", "ledger.postgres.ca_file", "absolute path"),
        (postgres.replacingOccurrences(of: "/run/secrets/", with: "run/secrets/"), "ledger.postgres.password_file", "absolute path"),
        (postgres.replacingOccurrences(of: "db.internal", with: "\"db internal\""), "ledger.postgres.host", "not a host name"),
        (postgres.replacingOccurrences(of: "db.internal", with: "\"\""), "ledger.postgres.host", "not a host name"),
        (postgres.replacingOccurrences(of: "db.internal", with: "10.0.0.5"), "ledger.postgres.host", "DNS name"),
        (postgres.replacingOccurrences(of: "user: router", with: "user: \"\""), "ledger.postgres.user", "identifier"),
        (postgres + "\n    pasword_file: /x", "ledger.postgres.pasword_file", "password_file"),
        (postgres.replacingOccurrences(of: "    host: db.internal\n", with: ""), "ledger.postgres", "host"),
        ("  backend: postgres", "ledger.postgres", "connection settings"),
        ("  backend: sqlite", "ledger.backend", "journal, postgres"),
        ("  cluster: {tokens_per_day: 10}", "ledger.cluster", "backend: postgres"),
        (postgres + "\n  cluster: {}", "ledger.cluster", "neither"),
        (postgres + "\n  cluster: {tokens_per_month: 0}", "ledger.cluster.tokens_per_month", "out of range"),
        (postgres.replacingOccurrences(of: "backend: postgres", with: "backend: journal"), "ledger.postgres", "not in use"),
    ])
    func refused(ledger: String, path: String, says: String) {
        #expect {
            try load(Self.config(ledger))
        } throws: { error in
            let message = "\(error)"
            return message.contains("test.yaml:") && message.contains(path) && message.contains(says)
        }
    }

    @Test("a cluster budget and an offline allowance load")
    func cluster() throws {
        let text = Self.config(Self.postgres + "\n    offline_allowance: 5000\n  cluster: {tokens_per_day: 100, tokens_per_month: 1000}")
        let ledger = try load(text).config.ledger
        #expect(ledger.cluster == LedgerSettings.ClusterBudget(tokensPerDay: 100, tokensPerMonth: 1000))
        #expect(ledger.postgres?.offlineAllowance == 5000)
    }
}
