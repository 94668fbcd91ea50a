/// When to try an upstream again: full-jitter exponential backoff, bounded in count, honouring a clamped
/// `Retry-After`. Pure: the random source is passed in.
public struct RetrySchedule: Sendable, Equatable {
    /// Attempts in total, the first included.
    public let attempts: Int
    public let base: Duration
    public let cap: Duration
    public let maxRetryAfter: Duration

    public init(attempts: Int, base: Duration, cap: Duration, maxRetryAfter: Duration) {
        precondition(attempts >= 1)
        self.attempts = attempts
        self.base = base
        self.cap = cap
        self.maxRetryAfter = maxRetryAfter
    }

    /// Why an attempt failed, as far as retry is concerned.
    public enum Failure: Sendable, Equatable {
        /// Could not connect, or timed out before a response head arrived.
        case transport
        /// The upstream answered with this status.
        case status(Int)
    }

    /// Whether a failure may be retried at all: connect errors, timeouts before a response, and 429/502/503/504,
    /// and 529 (Anthropic's `overloaded_error`, which its SDKs treat as transient like 503).
    public static func isRetryable(_ failure: Failure) -> Bool {
        switch failure {
        case .transport: return true
        case .status(let code): return code == 429 || code == 502 || code == 503 || code == 504 || code == 529
        }
    }

    /// The wait before attempt `attempt + 1` after attempt number `attempt` (1-based) failed, or nil when no
    /// attempt is left or the failure is not retryable. `retryAfter` (from the upstream) replaces the jittered
    /// delay when present, clamped to `maxRetryAfter`.
    public func delay<R: RandomNumberGenerator>(
        after attempt: Int,
        failure: Failure,
        retryAfter: Duration?,
        using random: inout R
    ) -> Duration? {
        guard attempt < attempts, Self.isRetryable(failure) else { return nil }
        if let retryAfter {
            return min(max(retryAfter, .zero), maxRetryAfter)
        }
        let ceiling = backoffCeiling(after: attempt)
        let nanos = ceiling.nanoseconds
        guard nanos > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0...nanos, using: &random))
    }

    /// `min(cap, base * 2^(attempt-1))`: the upper bound of the jittered delay.
    public func backoffCeiling(after attempt: Int) -> Duration {
        let shift = min(max(attempt - 1, 0), 40)
        let (scaled, overflow) = base.nanoseconds.multipliedReportingOverflow(by: Int64(1) << shift)
        return overflow ? cap : min(cap, .nanoseconds(scaled))
    }
}

extension Duration {
    /// Whole nanoseconds, saturating.
    var nanoseconds: Int64 {
        let (s, atto) = components
        let (ns, o) = s.multipliedReportingOverflow(by: 1_000_000_000)
        return o ? (s < 0 ? .min : .max) : ns &+ atto / 1_000_000_000
    }
}
