/// A token bucket as a pure value: `rate` tokens per second up to `burst`, refilled lazily from the clock.
public struct TokenBucket<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration, Instant: Sendable {
    public enum Decision: Sendable, Equatable {
        case allowed
        /// No token now; one will be there after `retryAfter`.
        case limited(retryAfter: Duration)
    }

    public let rate: Double
    public let burst: Double
    private(set) var tokens: Double
    private var last: Instant

    /// A full bucket at `now`.
    public init(rate: Double, burst: Int, now: Instant) {
        precondition(rate > 0 && burst > 0)
        self.rate = rate
        self.burst = Double(burst)
        self.tokens = Double(burst)
        self.last = now
    }

    /// A bucket with new settings that keeps what `previous` had left at `now` (never more than the new burst):
    /// changing a limit must not hand out a fresh burst.
    public init(rate: Double, burst: Int, now: Instant, carrying previous: TokenBucket) {
        self.init(rate: rate, burst: burst, now: now)
        self.tokens = min(self.burst, previous.available(now: now))
    }

    /// The tokens there are at `now`.
    public func available(now: Instant) -> Double {
        var copy = self
        copy.refill(now: now)
        return copy.tokens
    }

    public mutating func take(now: Instant) -> Decision {
        refill(now: now)
        if tokens >= 1 {
            tokens -= 1
            return .allowed
        }
        let seconds = (1 - tokens) / rate
        return .limited(retryAfter: .nanoseconds(Int64((seconds * 1e9).rounded(.up))))
    }

    private mutating func refill(now: Instant) {
        let elapsed = last.duration(to: now)
        guard elapsed > .zero else { return }
        let (s, atto) = elapsed.components
        tokens = min(burst, tokens + (Double(s) + Double(atto) * 1e-18) * rate)
        last = now
    }
}
