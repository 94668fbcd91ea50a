import AirlockPolicy

/// A day and a month budget, and the rule every ledger backend applies to them.
struct BudgetLimits: Sendable, Equatable {
    var perDay: Int?
    var perMonth: Int?

    var any: Bool { perDay != nil || perMonth != nil }

    /// Budgets by tenant name (the first of a duplicated name; validation refuses duplicates).
    static func byTenant(_ tenants: [TenantPolicy]) -> [String: BudgetLimits] {
        Dictionary(
            tenants.map { ($0.name, BudgetLimits(perDay: $0.tokensPerDay, perMonth: $0.tokensPerMonth)) },
            uniquingKeysWith: { a, _ in a }
        )
    }

    /// The period `tokens` more do not fit, with the seconds until it resets; nil when they fit. Nothing is left
    /// once a period is spent, so a request of 0 tokens is refused then too.
    func refusal(spent: (day: Int, month: Int), tokens: Int, now: Int64) -> (BudgetReservation.Period, Int64)? {
        // Limits are at most Int64.max / 4 and spent sums are non-negative: these differences cannot overflow.
        if let perMonth, spent.month >= perMonth || tokens > perMonth - spent.month {
            return (.month, UTCCalendar.secondsToNextMonth(now))
        }
        if let perDay, spent.day >= perDay || tokens > perDay - spent.day {
            return (.day, UTCCalendar.secondsToNextDay(now))
        }
        return nil
    }

    /// Tokens left of each budget once `spent` is deducted (nil where none is set).
    func remaining(spent: (day: Int, month: Int)) -> (day: Int?, month: Int?) {
        (perDay.map { max(0, $0 - spent.day) }, perMonth.map { max(0, $0 - spent.month) })
    }
}

/// The tenants' budgets in force, replaced whole by a reload; shared by every ledger backend.
final class TenantBudgets: Sendable {
    private let table: Locked<[String: BudgetLimits]>

    init(_ tenants: [TenantPolicy]) {
        table = Locked(BudgetLimits.byTenant(tenants))
    }

    func update(_ tenants: [TenantPolicy]) {
        let new = BudgetLimits.byTenant(tenants)
        table.withLock { $0 = new }
    }

    /// The tenant's budgets; none set when it has none (or is unknown).
    subscript(tenant: String) -> BudgetLimits {
        table.withLock { $0[tenant] } ?? BudgetLimits()
    }

    /// The tenants with a day or month budget, sorted.
    var withBudgets: [String] {
        table.withLock { $0.filter { $0.value.any }.keys.sorted() }
    }
}
