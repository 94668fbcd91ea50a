import AirlockPolicy

/// Where tenant token budgets are kept: reserve a request's worst case before it goes upstream, settle it to what
/// the provider reports (or to the reservation when nothing is known). ``BudgetLedger`` keeps them in a journal on
/// one host; ``PostgresLedger`` in a database every router of a deployment shares. Calls that may do I/O are
/// `async`: a network backend must never block one of the few threads of the cooperative pool.
public protocol TokenLedger: AnyObject, Sendable {
    /// Whether `tenant` has a day or month budget (a tenant without one is never refused and holds nothing).
    func hasBudget(tenant: String) -> Bool

    /// Holds `tokens` for `tenant` against its day and month budgets at once, or says which one they do not fit.
    /// The hold is durable before this returns. Throws when it cannot be recorded (the caller refuses with 503).
    func reserve(tenant: String, tokens: Int, now: Int64) async throws -> BudgetReservation.Decision

    /// Replaces the hold with `tokens` actually spent. Idempotent: settling a reservation again charges nothing.
    func settle(_ reservation: BudgetReservation, tokens: Int, now: Int64) async throws

    /// Tokens left today and this month, holds deducted (nil where no budget is set, or where it cannot be read).
    func remaining(tenant: String, now: Int64) async -> (day: Int?, month: Int?)

    /// Periodic upkeep, about once a second and at shutdown: makes what was recorded durable (journal), renews
    /// the router's lease and charges the holds of dead routers (PostgreSQL).
    func sync() async throws

    /// Ends the backend's background work at shutdown; records what is left first.
    func close() async

    /// New budgets from a reloaded configuration; counted usage and open holds are kept.
    func update(tenants: [TenantPolicy])

    /// The tenants with a budget, for metrics.
    var tenantsWithBudgets: [String] { get }
}

/// Tokens held for one request until it is settled.
public struct BudgetReservation: Sendable, Equatable {
    public enum Period: String, Sendable {
        case day, month
    }

    public enum Decision: Sendable, Equatable {
        case reserved(BudgetReservation)
        /// The reservation does not fit what is left of this period, which resets after `retryAfterSeconds`.
        case exceeded(Period, retryAfterSeconds: Int64)
    }

    /// Unique across runs of the router; empty for a tenant without budgets, whose reservation holds nothing.
    public let id: String
    public let tenant: String
    /// The UTC day ("YYYY-MM-DD") the hold and its settlement count against.
    public let day: String
    public let tokens: Int

    /// Whether the ledger holds these tokens until settlement.
    public var holds: Bool { !id.isEmpty }
}
