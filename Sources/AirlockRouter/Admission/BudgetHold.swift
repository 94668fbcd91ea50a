/// The budget one request runs under: its worst case held before each attempt that may reach the provider,
/// charged in full for every attempt that reached it without reporting usage, settled to usage when reported.
struct BudgetHold: Sendable {
    let ledger: any TokenLedger
    let tenant: String
    /// What one attempt can cost at most: the prompt bound plus the output cap for every choice.
    let worstCase: Int
    private(set) var reservation: BudgetReservation?
    /// The attempt under `reservation` reached the provider and may have generated.
    var spent = false

    /// Tokens providers add around a prompt that its bytes do not bound (chat templates, Anthropic's tool-use
    /// system prompt of a few hundred tokens).
    static let promptOverhead = 1_024

    /// The worst case of a request: its body's bytes bound the text prompt (no token is shorter than one UTF-8
    /// byte), `allowance` each for the prompt pieces it names but does not hold, and `outputCap` per choice.
    static func worstCase(bodyBytes: Int, unbounded: Int, allowance: Int, outputCap: Int, choices: Int) -> Int {
        let (input, o1) = unbounded.multipliedReportingOverflow(by: allowance)
        let (output, o2) = outputCap.multipliedReportingOverflow(by: choices)
        if o1 || o2 { return .max }
        return bodyBytes.addingSaturating(promptOverhead).addingSaturating(input).addingSaturating(output)
    }

    static func exceeded(tenant: String, _ period: BudgetReservation.Period, retryAfter: Int64) -> RouterError {
        RouterError(
            status: 429,
            reason: "budget_exceeded",
            message: "Tenant \"\(tenant)\" has not enough of its token budget left for this \(period.rawValue) (UTC) for this request's worst case.",
            retryAfterSeconds: retryAfter
        )
    }

    static let ledgerUnavailable = RouterError(
        status: 503,
        reason: "budget_unavailable",
        message: "The router cannot record this request against its tenant's budget (its budget ledger cannot be written or reached); try again later."
    )

    /// The most output tokens one choice can produce once `rewrite` is applied: the body's limit (lowered to the
    /// sandbox's cap), else the cap the router inserts, else `defaultOutput`, which is then inserted as the limit.
    /// 0 for endpoints that generate no output.
    static func outputCap(_ shape: RequestShape, rewrite: inout RequestShape.Rewrite, defaultOutput: Int) -> Int {
        guard shape.maxTokensFieldName != nil else { return 0 }
        if let asked = shape.maxTokenFields.map(\.value).max() {
            return rewrite.maxTokensCap.map { min($0, asked) } ?? asked
        }
        if let cap = rewrite.maxTokensCap { return cap }
        rewrite.maxTokensCap = defaultOutput
        return defaultOutput
    }

    /// Holds the worst case for the first attempt. Throws 429 `budget_exceeded` when it does not fit, 503 when the
    /// hold cannot be recorded.
    static func reserve(_ ledger: any TokenLedger, tenant: String, worstCase: Int, now: Int64) async throws(RouterError) -> BudgetHold {
        var hold = BudgetHold(ledger: ledger, tenant: tenant, worstCase: worstCase)
        try await hold.hold(now: now)
        return hold
    }

    private mutating func hold(now: Int64) async throws(RouterError) {
        let decision: BudgetReservation.Decision
        do {
            decision = try await ledger.reserve(tenant: tenant, tokens: worstCase, now: now)
        } catch {
            throw Self.ledgerUnavailable
        }
        switch decision {
        case .reserved(let reservation):
            self.reservation = reservation
            spent = false
        case .exceeded(let period, let retry):
            throw Self.exceeded(tenant: tenant, period, retryAfter: retry)
        }
    }

    /// Before another attempt: when the last one spent its reservation, that one is charged in full and the worst
    /// case is held again. Throws 429 `budget_exceeded` when it no longer fits.
    mutating func renew(now: Int64) async throws(RouterError) {
        guard spent, let reservation else { return }
        self.reservation = nil
        do {
            try await ledger.settle(reservation, tokens: reservation.tokens, now: now)
        } catch {
            throw Self.ledgerUnavailable
        }
        try await hold(now: now)
    }

    /// Whether an answer with this status may have cost generation: a success, or a server error (a gateway's 502 or
    /// 504 can come after the model ran). A 4xx, and 503 and 529 (overloaded), are refusals made before any work.
    static func mayHaveGenerated(status: Int) -> Bool {
        (200..<300).contains(status) || (status >= 500 && status != 503 && status != 529)
    }

    /// Ends the request: `usage` when the provider reported it for a complete answer, else the whole reservation if
    /// the last attempt reached the provider, else nothing. Settling again does nothing.
    mutating func settle(usage: Int?, now: Int64) async throws {
        guard let reservation else { return }
        self.reservation = nil
        try await ledger.settle(reservation, tokens: usage ?? (spent ? reservation.tokens : 0), now: now)
    }
}
