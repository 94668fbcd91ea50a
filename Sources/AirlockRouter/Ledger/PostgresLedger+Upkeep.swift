import AirlockPolicy
import Logging
import PostgresNIO
import Synchronization

extension PostgresLedger {
    /// Once a second: renews this router's lease, retries settlements that could not be written, charges what was
    /// spent under the offline allowance, and charges in full the holds of routers whose lease expired.
    public func sync() async throws {
        do {
            try await call("lease") { try await self.renewLease() }
        } catch {
            local.withLock { $0.downUntil = ContinuousClock.now + .seconds(1) }
            logger.warning("ledger lease renewal failed", metadata: ["error": "\(PostgresConnector.describe(error))"])
            throw error
        }
        local.withLock { $0.downUntil = nil }
        let (settles, charges, syncs) = local.withLock { s in
            s.syncs &+= 1
            return (Array(s.pendingSettles.values), Array(s.pendingCharges.values), s.syncs)
        }
        for pending in settles {
            try await call("settle") { try await self.settleInDatabase(pending.reservation, tokens: pending.tokens) }
            if let until = pending.until, ContinuousClock.now < until { continue }
            local.withLock { _ = $0.pendingSettles.removeValue(forKey: pending.reservation.id) }
        }
        for charge in charges {
            try await call("reconcile") { try await self.chargeOnce(charge) }
            local.withLock { s in
                guard s.pendingCharges.removeValue(forKey: charge.id) != nil else { return }
                s.offlineSpent[charge.tenant] = max(0, (s.offlineSpent[charge.tenant] ?? 0) - charge.tokens)
            }
            logger.info("offline spending charged to the ledger", metadata: ["tenant": "\(charge.tenant)", "tokens": "\(charge.tokens)"])
        }
        let swept = try await call("sweep") { try await self.sweepExpired() }
        if swept > 0 {
            logger.warning("charged the open holds of routers whose lease expired", metadata: ["tokens": "\(swept)"])
        }
        if syncs % 600 == 1 {
            try await call("cleanup") { try await self.cleanUp() }
        }
    }

    func renewLease() async throws {
        let seconds = Double(settings.lease.nanoseconds) / 1e9
        try await client.query(
            """
            INSERT INTO airlock_router (id, expires) VALUES (\(routerID), now() + \(seconds) * interval '1 second')
            ON CONFLICT (id) DO UPDATE SET expires = EXCLUDED.expires
            """,
            logger: logger
        )
    }

    /// Charges every hold whose router holds no live lease, in full; returns the tokens charged. A hold is deleted
    /// by exactly one of its settlement and this sweep, so it is charged once.
    func sweepExpired() async throws -> Int64 {
        let rows = try await client.query(
            """
            WITH gone AS (
                DELETE FROM airlock_hold h
                WHERE NOT EXISTS (SELECT 1 FROM airlock_router r WHERE r.id = h.router AND r.expires > now())
                RETURNING tenant, day, tokens
            ), total AS (
                SELECT tenant, day, LEAST(SUM(tokens), \(Self.cap))::bigint AS tokens FROM gone GROUP BY tenant, day
            ), charged AS (
                UPDATE airlock_budget b SET held = GREATEST(b.held - total.tokens, 0),
                                            charged = LEAST(b.charged + total.tokens, \(Self.cap))
                FROM total WHERE b.tenant = total.tenant AND b.day = total.day
                RETURNING total.tokens
            )
            SELECT LEAST(COALESCE(SUM(tokens), 0), \(Self.cap))::bigint FROM charged
            """,
            logger: logger
        )
        for try await tokens in rows.decode(Int64.self) { return max(0, tokens) }
        return 0
    }

    /// Adds an offline reservation's cost to the database once, however often it is sent.
    func chargeOnce(_ charge: BudgetReservation) async throws {
        let month = String(UTCCalendar.month(ofDay: charge.day))
        let tokens = Int64(clamping: charge.tokens)
        try await client.query(
            """
            WITH once AS (
                INSERT INTO airlock_charge (id, tenant, day, tokens) VALUES (\(charge.id), \(charge.tenant), \(charge.day), \(tokens))
                ON CONFLICT (id) DO NOTHING RETURNING tokens
            )
            INSERT INTO airlock_budget (tenant, day, month, charged, held)
            SELECT \(charge.tenant), \(charge.day), \(month), tokens, 0 FROM once
            ON CONFLICT (tenant, day) DO UPDATE SET charged = LEAST(airlock_budget.charged + EXCLUDED.charged, \(Self.cap))
            """,
            logger: logger
        )
    }

    /// Forgets leases expired a day ago (their holds were swept long before) and idempotence records older than
    /// any month a budget still counts.
    func cleanUp() async throws {
        try await client.query("DELETE FROM airlock_router WHERE expires < now() - interval '1 day'", logger: logger)
        try await client.query("DELETE FROM airlock_charge WHERE recorded < now() - interval '62 days'", logger: logger)
    }
}
