import AirlockPolicy
import Logging
import PostgresNIO
import Synchronization

/// Tenant token budgets kept in a PostgreSQL database that every router of a deployment shares, so a tenant's
/// budget holds across all of them (docs/architecture.md, "Shared ledger"; the schema is in
/// PostgresLedger+Schema.swift).
///
/// A reservation is one short transaction that takes the tenant's advisory lock (and the cluster's, when a cluster
/// budget is set), reads what the tenant has spent and holds this month, and inserts the hold: two routers can
/// never both fit into the last tokens. A settlement is one statement that deletes the hold and moves its tokens
/// to what is charged; a hold that is gone (settled before, or charged by a sweep) charges nothing more. Each
/// router renews a lease row; any router charges in full the holds of routers whose lease has expired.
///
/// When the database cannot be reached a reservation fails (503 `budget_unavailable`), unless
/// `offline_allowance` is set: then each tenant may hold up to that many tokens locally, charged to the database
/// when it is back.
public final class PostgresLedger: TokenLedger {
    /// Tokens the database stores at most in one value; budgets are at most this, so no refusal changes.
    static let cap = Int64.max / 4

    let client: PostgresClient
    let settings: PostgresLedgerSettings
    /// This run's identity: its lease row and the prefix of its reservation ids.
    public let routerID: String
    let logger: Logger
    let metrics: RouterMetrics?
    private let budgets: TenantBudgets
    let cluster: BudgetLimits?
    let local = Mutex(LocalState())
    private let runner: Task<Void, Never>

    struct PendingSettle {
        var reservation: BudgetReservation
        var tokens: Int
        /// nil: until one settlement statement succeeds.
        var until: ContinuousClock.Instant?
    }

    /// What this router knows that the database does not, yet.
    struct LocalState {
        var serial: UInt64 = 0
        /// Until this instant reservations skip the database (it just failed) and go straight to the allowance.
        var downUntil: ContinuousClock.Instant?
        /// Tokens held or spent under the offline allowance and not yet charged to the database, by tenant.
        var offlineSpent: [String: Int] = [:]
        var offlineOpen: [String: BudgetReservation] = [:]
        /// Offline reservations settled, to be charged to the database (idempotent by id).
        var pendingCharges: [String: BudgetReservation] = [:]
        /// Settlements of database holds that could not be written, retried until one is. A reservation whose
        /// outcome is unknown (its call timed out, the transaction may still commit) is released with 0 tokens at
        /// every upkeep until `until`, by when the server has ended it (each statement is bounded by
        /// `statement_timeout`).
        var pendingSettles: [String: PendingSettle] = [:]
        var syncs: UInt64 = 0
    }

    init(
        client: PostgresClient,
        settings: PostgresLedgerSettings,
        tenants: [TenantPolicy],
        cluster: LedgerSettings.ClusterBudget?,
        routerID: String,
        metrics: RouterMetrics?,
        logger: Logger
    ) {
        self.client = client
        self.settings = settings
        self.routerID = routerID
        self.logger = logger
        self.metrics = metrics
        budgets = TenantBudgets(tenants)
        self.cluster = cluster.map { BudgetLimits(perDay: $0.tokensPerDay, perMonth: $0.tokensPerMonth) }
        runner = Task { await client.run() }
    }

    deinit {
        runner.cancel()
    }

    public func close() async {
        try? await sync()
        do {
            try await call("release") {
                try await self.client.query(
                    "UPDATE airlock_router SET expires = now() WHERE id = \(self.routerID)",
                    logger: self.logger
                )
            }
        } catch {
            logger.warning("could not release the ledger lease", metadata: ["error": "\(String(reflecting: error))"])
        }
        runner.cancel()
    }

    /// Ends the connection pool without a last upkeep (start-up failed).
    func stopClient() {
        runner.cancel()
    }

    public func update(tenants: [TenantPolicy]) {
        budgets.update(tenants)
    }

    public var tenantsWithBudgets: [String] { budgets.withBudgets }

    public func hasBudget(tenant: String) -> Bool {
        cluster != nil || budgets[tenant].any
    }

    // MARK: Reserve

    public func reserve(tenant: String, tokens: Int, now: Int64) async throws -> BudgetReservation.Decision {
        let day = UTCCalendar.day(now)
        let own = budgets[tenant]
        guard own.any || cluster != nil else {
            return .reserved(BudgetReservation(id: "", tenant: tenant, day: day, tokens: 0))
        }
        let tokens = Int(clamping: min(Int64(clamping: max(0, tokens)), Self.cap))
        let (id, skip) = local.withLock { s -> (String, Bool) in
            s.serial += 1
            let skip = s.downUntil.map { ContinuousClock.now < $0 } ?? false
            return ("\(routerID).\(s.serial)", skip)
        }
        let reservation = BudgetReservation(id: id, tenant: tenant, day: day, tokens: tokens)
        if !skip {
            do {
                return try await call("reserve") {
                    try await self.reserveInDatabase(reservation, own: own, now: now)
                }
            } catch {
                logger.error("ledger reservation failed", metadata: ["tenant": "\(tenant)", "error": "\(String(reflecting: error))"])
                // It may have committed before the deadline: release it (0 tokens: nothing went upstream).
                let until = ContinuousClock.now + settings.connection.timeout.duration * 10
                local.withLock { s in
                    s.pendingSettles[id] = PendingSettle(reservation: reservation, tokens: 0, until: until)
                    s.downUntil = ContinuousClock.now + .seconds(1)
                }
            }
        }
        return try reserveOffline(tenant: tenant, tokens: tokens, day: day)
    }

    private func reserveInDatabase(_ r: BudgetReservation, own: BudgetLimits, now: Int64) async throws -> BudgetReservation.Decision {
        let cluster = self.cluster
        let month = String(UTCCalendar.month(ofDay: r.day))
        return try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                "SELECT pg_advisory_xact_lock(\(Self.lockClass), hashtext(\(r.tenant)))",
                logger: self.logger
            )
            if let cluster {
                // The cluster's lock after the tenant's, always: no two transactions wait for each other.
                try await connection.query(
                    "SELECT pg_advisory_xact_lock(\(Self.lockClass), hashtext(\(Self.clusterScope)))",
                    logger: self.logger
                )
                let spent = try await Self.spent(connection, tenant: nil, day: r.day, month: month, logger: self.logger)
                if let (period, retry) = cluster.refusal(spent: spent, tokens: r.tokens, now: now) {
                    return .exceeded(period, retryAfterSeconds: retry)
                }
            }
            if own.any {
                let spent = try await Self.spent(connection, tenant: r.tenant, day: r.day, month: month, logger: self.logger)
                if let (period, retry) = own.refusal(spent: spent, tokens: r.tokens, now: now) {
                    return .exceeded(period, retryAfterSeconds: retry)
                }
            }
            let tokens = Int64(r.tokens)
            try await connection.query(
                """
                WITH hold AS (
                    INSERT INTO airlock_hold (id, router, tenant, day, tokens)
                    VALUES (\(r.id), \(self.routerID), \(r.tenant), \(r.day), \(tokens))
                )
                INSERT INTO airlock_budget (tenant, day, month, charged, held) VALUES (\(r.tenant), \(r.day), \(month), 0, \(tokens))
                ON CONFLICT (tenant, day) DO UPDATE SET held = LEAST(airlock_budget.held + EXCLUDED.held, \(Self.cap))
                """,
                logger: self.logger
            )
            return .reserved(r)
        }
    }

    /// Tokens charged plus held on `day` and in `month`, for `tenant` or (nil) for every tenant together.
    static func spent(
        _ connection: PostgresConnection,
        tenant: String?,
        day: String,
        month: String,
        logger: Logger
    ) async throws -> (day: Int, month: Int) {
        let rows: PostgresRowSequence
        if let tenant {
            rows = try await connection.query(
                """
                SELECT LEAST(COALESCE(SUM(charged + held) FILTER (WHERE day = \(day)), 0), \(cap))::bigint,
                       LEAST(COALESCE(SUM(charged + held), 0), \(cap))::bigint
                FROM airlock_budget WHERE tenant = \(tenant) AND month = \(month)
                """,
                logger: logger
            )
        } else {
            rows = try await connection.query(
                """
                SELECT LEAST(COALESCE(SUM(charged + held) FILTER (WHERE day = \(day)), 0), \(cap))::bigint,
                       LEAST(COALESCE(SUM(charged + held), 0), \(cap))::bigint
                FROM airlock_budget WHERE month = \(month)
                """,
                logger: logger
            )
        }
        for try await (today, total) in rows.decode((Int64, Int64).self) {
            return (Int(clamping: min(max(0, today), cap)), Int(clamping: min(max(0, total), cap)))
        }
        return (0, 0)
    }

    private func reserveOffline(tenant: String, tokens: Int, day: String) throws -> BudgetReservation.Decision {
        guard let allowance = settings.offlineAllowance else {
            throw LedgerUnavailable(reason: "the ledger database cannot be reached and no offline_allowance is configured (fail closed)")
        }
        return try local.withLock { s in
            let spent = s.offlineSpent[tenant] ?? 0
            guard tokens <= allowance - spent else {
                throw LedgerUnavailable(reason: "the ledger database cannot be reached and tenant \"\(tenant)\"'s offline allowance (\(allowance) tokens) is spent")
            }
            s.serial += 1
            let reservation = BudgetReservation(id: "\(routerID).o\(s.serial)", tenant: tenant, day: day, tokens: tokens)
            s.offlineSpent[tenant] = spent + tokens
            s.offlineOpen[reservation.id] = reservation
            return .reserved(reservation)
        }
    }

    // MARK: Settle

    public func settle(_ reservation: BudgetReservation, tokens: Int, now: Int64) async throws {
        guard reservation.holds else { return }
        let tokens = Int(clamping: min(Int64(clamping: max(0, tokens)), Self.cap))
        let offline = local.withLock { s -> Bool in
            guard let open = s.offlineOpen.removeValue(forKey: reservation.id) else {
                // An offline reservation settled before: nothing more (its id never reaches the holds table).
                return reservation.id.hasPrefix("\(routerID).o")
            }
            // What it cost stays counted against the allowance until the database has it.
            let spent = (s.offlineSpent[open.tenant] ?? 0) - open.tokens + tokens
            s.offlineSpent[open.tenant] = max(0, spent)
            if tokens > 0 {
                s.pendingCharges[open.id] = BudgetReservation(id: open.id, tenant: open.tenant, day: open.day, tokens: tokens)
            }
            return true
        }
        if offline { return }
        do {
            try await call("settle") { try await self.settleInDatabase(reservation, tokens: tokens) }
        } catch {
            // Retried by `sync()`; should this router die first, the hold is charged in full by a sweep.
            local.withLock { $0.pendingSettles[reservation.id] = PendingSettle(reservation: reservation, tokens: tokens, until: nil) }
            throw LedgerUnavailable(reason: "settlement of \(reservation.id) queued for retry: \(String(reflecting: error))")
        }
    }

    /// Deletes the hold and charges `tokens` in its place; a hold that is already gone charges nothing.
    func settleInDatabase(_ reservation: BudgetReservation, tokens: Int) async throws {
        try await client.query(
            """
            WITH hold AS (DELETE FROM airlock_hold WHERE id = \(reservation.id) RETURNING tenant, day, tokens)
            UPDATE airlock_budget b SET held = GREATEST(b.held - hold.tokens, 0),
                                        charged = LEAST(b.charged + \(Int64(tokens)), \(Self.cap))
            FROM hold WHERE b.tenant = hold.tenant AND b.day = hold.day
            """,
            logger: logger
        )
    }

    // MARK: Remaining

    public func remaining(tenant: String, now: Int64) async -> (day: Int?, month: Int?) {
        let limit = budgets[tenant]
        guard limit.any else { return (nil, nil) }
        let day = UTCCalendar.day(now)
        let month = String(UTCCalendar.month(ofDay: day))
        do {
            let spent = try await call("remaining") {
                try await self.client.withConnection { connection in
                    try await Self.spent(connection, tenant: tenant, day: day, month: month, logger: self.logger)
                }
            }
            return limit.remaining(spent: spent)
        } catch {
            return (nil, nil)
        }
    }

    /// Runs one database call under the configured timeout, timed and counted by `operation`.
    func call<T: Sendable>(
        _ operation: String,
        within limit: Duration? = nil,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let started = ContinuousClock.now
        do {
            let result = try await withDeadline(limit ?? settings.connection.timeout.duration, "ledger \(operation)", body)
            metrics?.ledgerCall(operation: operation, ContinuousClock.now - started, ok: true)
            return result
        } catch {
            metrics?.ledgerCall(operation: operation, ContinuousClock.now - started, ok: false)
            throw error
        }
    }
}

/// The ledger database could not record a reservation or settlement.
struct LedgerUnavailable: Error, CustomStringConvertible {
    let reason: String

    var description: String { "budget ledger unavailable: \(reason)" }
}
