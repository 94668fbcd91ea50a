#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy
import AirlockTestSupport
import Foundation
import Logging
import Prometheus
import Testing

@testable import AirlockRouter

/// The shared ledger over a real PostgreSQL server started for each test (no mocks): the journal's semantics,
/// one budget across several routers, leases, and what happens when the database goes away.
@Suite(
    "PostgreSQL ledger",
    .enabled(
        if: PostgresServer.unavailable == nil,
        "needs PostgreSQL's server binaries (scripts/install-deps.sh installs them) and, as root, setpriv to run it as nobody"
    ),
    // One server at a time: each test starts its own, and the whole suite runs beside every other one.
    .serialized,
    .timeLimit(.minutes(3))
)
struct PostgresLedgerTests {
    /// 2026-03-15 12:00:00 UTC.
    static let noon: Int64 = 1_773_576_000
    static let logger = Logger(label: "test.ledger")

    /// Generous timeouts: on a loaded CI machine with two cores every other suite runs beside these. Tests of
    /// timeouts ask for short ones.
    static func settings(_ server: PostgresServer, timeout: ConfigDuration = .seconds(20), offline: Int? = nil) -> PostgresLedgerSettings {
        PostgresLedgerSettings(
            host: "127.0.0.1",
            port: server.port,
            database: server.database,
            user: server.user,
            passwordFile: server.passwordFile,
            tls: .disable,
            timeout: timeout,
            lease: .seconds(30),
            // Few descriptors: the test process holds over a thousand at the suite's start, and Foundation's
            // Process.run on Linux can crash reading /proc/self/fd when there are that many
            // (swift-corelibs-foundation pull request 5472, an over-read of d_name).
            maxConnections: 2,
            offlineAllowance: offline
        )
    }

    static func ledger(
        _ server: PostgresServer,
        _ tenants: [TenantPolicy],
        cluster: LedgerSettings.ClusterBudget? = nil,
        timeout: ConfigDuration = .seconds(20),
        offline: Int? = nil,
        metrics: RouterMetrics = RouterMetrics()
    ) async throws -> PostgresLedger {
        try await PostgresLedger.start(
            settings: settings(server, timeout: timeout, offline: offline),
            password: server.password,
            tenants: tenants,
            cluster: cluster,
            metrics: metrics,
            logger: logger,
            startTimeout: .seconds(60)
        )
    }

    static func reserved(_ decision: BudgetReservation.Decision) throws -> BudgetReservation {
        guard case .reserved(let reservation) = decision else { throw TestSupportError("refused: \(decision)") }
        return reservation
    }

    @Test("reserve, settle to usage, settle twice charges once, refusal with Retry-After, day and month rollover")
    func semantics() async throws {
        let server = try await PostgresServer.start()
        let ledger = try await Self.ledger(server, [TenantPolicy(name: "t", tokensPerDay: 100, tokensPerMonth: 150)])
        let noon = Self.noon
        let first = try Self.reserved(try await ledger.reserve(tenant: "t", tokens: 60, now: noon))
        #expect(await ledger.remaining(tenant: "t", now: noon).day == 40)
        #expect(try await ledger.reserve(tenant: "t", tokens: 41, now: noon) == .exceeded(.day, retryAfterSeconds: 43_200))
        try await ledger.settle(first, tokens: 10, now: noon)
        try await ledger.settle(first, tokens: 10, now: noon)
        #expect(await ledger.remaining(tenant: "t", now: noon).day == 90)
        #expect(try await server.integer("SELECT charged FROM airlock_budget WHERE tenant = 't'") == 10)
        #expect(try await server.integer("SELECT count(*) FROM airlock_hold") == 0)
        // The next day has its own day budget, and the month's: 150 - 10.
        let tomorrow = noon + 86_400
        let big = try Self.reserved(try await ledger.reserve(tenant: "t", tokens: 100, now: tomorrow))
        try await ledger.settle(big, tokens: 100, now: tomorrow)
        guard case .exceeded(.month, let retry) = try await ledger.reserve(tenant: "t", tokens: 41, now: tomorrow) else {
            Issue.record("the month budget did not refuse")
            return
        }
        #expect(retry == UTCCalendar.secondsToNextMonth(tomorrow))
        // April starts from zero.
        let april: Int64 = 1_775_044_800  // 2026-04-01 12:00 UTC
        _ = try Self.reserved(try await ledger.reserve(tenant: "t", tokens: 100, now: april))
        // A tenant without a budget holds nothing and writes nothing.
        let free = try Self.reserved(try await ledger.reserve(tenant: "free", tokens: 1_000, now: noon))
        #expect(!free.holds)
        try await ledger.settle(free, tokens: 7, now: noon)
        #expect(try await server.integer("SELECT count(*) FROM airlock_budget WHERE tenant = 'free'") == 0)
        await ledger.close()
        try await server.stop()
    }

    @Test("two routers racing for the last tokens: exactly the budget is held, never more")
    func raceForTheLastTokens() async throws {
        let server = try await PostgresServer.start()
        let tenants = [TenantPolicy(name: "t", tokensPerDay: 1_000)]
        let a = try await Self.ledger(server, tenants)
        let b = try await Self.ledger(server, tenants)
        let granted = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<60 {
                let ledger = i % 2 == 0 ? a : b
                group.addTask {
                    if case .reserved = try await ledger.reserve(tenant: "t", tokens: 100, now: Self.noon) { return true }
                    return false
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(granted == 10)
        #expect(try await server.integer("SELECT sum(held) FROM airlock_budget") == 1_000)
        #expect(try await server.integer("SELECT count(*) FROM airlock_hold") == 10)
        await a.close()
        await b.close()
        try await server.stop()
    }

    @Test("a dead router's holds are charged in full by a live one; its late settlement charges nothing more")
    func leaseExpiry() async throws {
        let server = try await PostgresServer.start()
        let tenants = [TenantPolicy(name: "t", tokensPerDay: 1_000)]
        let dead = try await Self.ledger(server, tenants)
        let live = try await Self.ledger(server, tenants)
        let hold = try Self.reserved(try await dead.reserve(tenant: "t", tokens: 300, now: Self.noon))
        let settled = try Self.reserved(try await dead.reserve(tenant: "t", tokens: 200, now: Self.noon))
        try await dead.settle(settled, tokens: 20, now: Self.noon)
        // Still leased: a sweep leaves the hold alone.
        try await live.sync()
        #expect(try await server.integer("SELECT held FROM airlock_budget") == 300)
        try await server.psql("UPDATE airlock_router SET expires = now() - interval '1 second' WHERE id = '\(dead.routerID)'")
        try await live.sync()
        #expect(try await server.integer("SELECT held FROM airlock_budget") == 0)
        #expect(try await server.integer("SELECT charged FROM airlock_budget") == 320)
        try await dead.settle(hold, tokens: 5, now: Self.noon)
        try await live.sync()
        #expect(try await server.integer("SELECT charged FROM airlock_budget") == 320)
        await dead.close()
        await live.close()
        try await server.stop()
    }

    @Test("database stopped: reservations fail closed within the timeout, counted in the metrics, and work again once it is back")
    func failClosed() async throws {
        let server = try await PostgresServer.start()
        let metrics = RouterMetrics()
        let ledger = try await Self.ledger(server, [TenantPolicy(name: "t", tokensPerDay: 1_000)], timeout: .seconds(3), metrics: metrics)
        let open = try Self.reserved(try await ledger.reserve(tenant: "t", tokens: 100, now: Self.noon))
        try await server.stop()
        let started = ContinuousClock.now
        await #expect(throws: LedgerUnavailable.self) {
            _ = try await ledger.reserve(tenant: "t", tokens: 100, now: Self.noon)
        }
        // A timeout of 3 s; the margin is for a loaded machine. Without the deadline it would wait for the pool's
        // reconnection attempts, without end.
        #expect(ContinuousClock.now - started < .seconds(15))
        let exposed = metrics.registry.emitToString()
        #expect(exposed.contains(#"airlock_ledger_errors_total{operation="reserve"} 1"#), "\(exposed)")
        #expect(exposed.contains(#"airlock_ledger_call_seconds_count{operation="reserve"} 2"#), "\(exposed)")
        // Through the request path's hold: 503 budget_unavailable.
        await #expect(throws: BudgetHold.ledgerUnavailable) {
            _ = try await BudgetHold.reserve(ledger, tenant: "t", worstCase: 10, now: Self.noon)
        }
        // The settlement is kept and written once the database is back.
        await #expect(throws: LedgerUnavailable.self) {
            try await ledger.settle(open, tokens: 40, now: Self.noon)
        }
        try await server.startServer()
        let back = await eventually(seconds: 20) { (try? await ledger.sync()) != nil }
        #expect(back)
        _ = try Self.reserved(try await ledger.reserve(tenant: "t", tokens: 100, now: Self.noon))
        #expect(try await server.integer("SELECT charged FROM airlock_budget") == 40)
        #expect(try await server.integer("SELECT held FROM airlock_budget") == 100)
        await ledger.close()
        try await server.stop()
    }

    @Test("offline allowance: bounded per tenant while the database is down, charged once when it is back")
    func offlineAllowance() async throws {
        let server = try await PostgresServer.start()
        let ledger = try await Self.ledger(
            server, [TenantPolicy(name: "t", tokensPerDay: 10_000)], timeout: .seconds(3), offline: 500
        )
        try await server.stop()
        let first = try Self.reserved(try await ledger.reserve(tenant: "t", tokens: 300, now: Self.noon))
        await #expect(throws: LedgerUnavailable.self) {
            _ = try await ledger.reserve(tenant: "t", tokens: 300, now: Self.noon)
        }
        let second = try Self.reserved(try await ledger.reserve(tenant: "t", tokens: 200, now: Self.noon))
        await #expect(throws: LedgerUnavailable.self) {
            _ = try await ledger.reserve(tenant: "t", tokens: 1, now: Self.noon)
        }
        try await ledger.settle(first, tokens: 120, now: Self.noon)
        try await ledger.settle(second, tokens: 30, now: Self.noon)
        try await ledger.settle(second, tokens: 30, now: Self.noon)
        // 150 still counts against the allowance until the database has it: 350 left.
        await #expect(throws: LedgerUnavailable.self) {
            _ = try await ledger.reserve(tenant: "t", tokens: 351, now: Self.noon)
        }
        try await server.startServer()
        let back = await eventually(seconds: 20) { (try? await ledger.sync()) != nil }
        #expect(back)
        try await ledger.sync()
        #expect(try await server.integer("SELECT charged FROM airlock_budget WHERE tenant = 't'") == 150)
        #expect(try await server.integer("SELECT count(*) FROM airlock_charge") == 2)
        await ledger.close()
        try await server.stop()
    }

    @Test("a cluster budget is shared by every tenant")
    func clusterBudget() async throws {
        let server = try await PostgresServer.start()
        let ledger = try await Self.ledger(
            server, [TenantPolicy(name: "a", tokensPerDay: 1_000), TenantPolicy(name: "b")],
            cluster: .init(tokensPerDay: 500)
        )
        #expect(ledger.hasBudget(tenant: "b"))
        _ = try Self.reserved(try await ledger.reserve(tenant: "a", tokens: 300, now: Self.noon))
        _ = try Self.reserved(try await ledger.reserve(tenant: "b", tokens: 200, now: Self.noon))
        #expect(try await ledger.reserve(tenant: "a", tokens: 1, now: Self.noon) == .exceeded(.day, retryAfterSeconds: 43_200))
        await ledger.close()
        try await server.stop()
    }

    @Test("a database with a newer schema, a wrong password and an unreachable server are start-up errors that say so")
    func startErrors() async throws {
        let server = try await PostgresServer.start()
        await #expect {
            _ = try await PostgresLedger.start(
                settings: Self.settings(server), password: "wrong", tenants: [], cluster: nil, metrics: nil, logger: Self.logger,
                startTimeout: .seconds(60)
            )
        } throws: { error in
            "\(error)".contains("ledger.postgres") && "\(error)".contains("password authentication failed")
        }
        let ledger = try await Self.ledger(server, [])
        await ledger.close()
        try await server.psql("INSERT INTO airlock_ledger_schema (version) VALUES (99)")
        await #expect {
            _ = try await Self.ledger(server, [])
        } throws: { error in
            "\(error)".contains("schema version 99") && "\(error)".contains("upgrade the router")
        }
        try await server.stop()
        await #expect {
            _ = try await Self.ledger(server, [], timeout: .seconds(1))
        } throws: { error in
            "\(error)".contains("cannot use the ledger database airlock at 127.0.0.1:\(server.port)")
        }
    }

    @Test("a router starting while others write to the ledger takes no table lock: a schema in place is not created again")
    func startBesideWriters() async throws {
        let server = try await PostgresServer.start()
        let first = try await Self.ledger(server, [])
        await first.close()
        // A writer in the middle of a transaction on the holds table, as a reservation of a running router is. On
        // the old code the new router's CREATE INDEX IF NOT EXISTS waited for a lock that conflicts with it (and
        // four routers starting at once deadlocked in CI).
        let writer = Task {
            try await server.psql("BEGIN; LOCK TABLE airlock_hold IN ROW EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT")
        }
        let locked = await eventually(seconds: 20) {
            (try? await server.integer(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'airlock_hold' AND l.mode = 'RowExclusiveLock' AND l.granted"
            )) == 1
        }
        #expect(locked, "the writer never took its lock")
        do {
            let second = try await Self.ledger(server, [], timeout: .seconds(2))
            await second.close()
        } catch {
            Issue.record("a router could not start beside a writer: \(error)")
        }
        try await server.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()")
        _ = await writer.result
        try await server.stop()
    }

    @Test("tls verify-full: a server whose certificate the CA signed is used; one it did not sign, or plain TCP, is refused")
    func tlsVerifyFull() async throws {
        let server = try await PostgresServer.start(tls: true)
        func settings(tls: PostgresLedgerSettings.TLSMode, ca: String?) -> PostgresLedgerSettings {
            var settings = Self.settings(server)
            settings.connection.host = "localhost"
            settings.connection.tls = tls
            settings.connection.caFile = ca
            return settings
        }
        func open(_ settings: PostgresLedgerSettings) async throws -> PostgresLedger {
            try await PostgresLedger.start(
                settings: settings, password: server.password, tenants: [TenantPolicy(name: "t", tokensPerDay: 100)],
                cluster: nil, metrics: nil, logger: Self.logger, startTimeout: .seconds(60)
            )
        }
        let ledger = try await open(settings(tls: .verifyFull, ca: server.caFile))
        _ = try Self.reserved(try await ledger.reserve(tenant: "t", tokens: 10, now: Self.noon))
        await ledger.close()
        await #expect {
            _ = try await open(settings(tls: .verifyFull, ca: server.otherCAFile))
        } throws: { error in
            "\(error)".contains("ledger.postgres") && "\(error)".lowercased().contains("certificate")
        }
        // The server takes TLS logins only, so a plain connection is refused: TLS was really in use above.
        await #expect {
            _ = try await open(settings(tls: .disable, ca: nil))
        } throws: { error in
            "\(error)".contains("ledger.postgres")
        }
        await #expect {
            _ = try await open(settings(tls: .verifyFull, ca: "/nonexistent/ca.crt"))
        } throws: { error in
            "\(error)".contains("ledger.postgres.ca_file") && "\(error)".contains("/nonexistent/ca.crt")
        }
        try await server.stop()
    }

    @Test("the password file must be the router's own: group- or world-readable is refused, naming the key")
    func passwordFileMode() async throws {
        let server = try await PostgresServer.start()
        defer { Task { try? await server.stop() } }
        chmod(server.passwordFile, 0o644)
        let text = """
            version: 1
            router:
              listeners: [{tcp: 127.0.0.1:0}]
              state_directory: \(server.directory)/state
            ledger:
              backend: postgres
              postgres:
            \(server.ledgerYAML(extra: ["timeout: 20s", "lease: 60s"]))
            tenants: [{name: team, tokens_per_day: 100}]
            sandboxes: [{name: agent, tenant: team, uids: [1000], models: [gpt]}]
            upstreams: [{name: up, kind: openai, base_url: "https://api.openai.com", credential: {file: /etc/airlock/key}}]
            models: [{name: gpt, api: openai, targets: [{upstream: up}]}]
            receipts: {enabled: false}
            """
        let config = try ConfigLoader.load(text: text, path: "pg.yaml").config
        await #expect {
            _ = try await Router.openLedger(config, chownTo: nil, metrics: RouterMetrics(), logger: Self.logger)
        } throws: { error in
            "\(error)".contains("ledger.postgres.password_file") && "\(error)".contains("accessible to other users")
        }
        chmod(server.passwordFile, 0o600)
        let ledger = try await Router.openLedger(config, chownTo: nil, metrics: RouterMetrics(), logger: Self.logger)
        await ledger.close()
        try await server.stop()
    }
}
