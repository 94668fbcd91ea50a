/// A per-upstream circuit breaker as a pure value over a clock.
///
/// Closed: calls pass; `failureThreshold` failures within `window` open it. Open: calls are refused until
/// `cooldown` has passed. Half-open: exactly one probe passes; its success closes the breaker, its failure
/// opens it for another cooldown.
public struct CircuitBreaker<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration, Instant: Sendable {
    public enum State: Sendable, Equatable {
        case closed
        case open(until: Instant)
        case halfOpen(probeInFlight: Bool)
    }

    public enum Permission: Sendable, Equatable {
        /// Call; report the outcome with `record`.
        case allowed
        /// Call as the single half-open probe; report the outcome with `record`.
        case probe
        /// Do not call; the breaker may let a probe through after `retryAfter`.
        case refused(retryAfter: Duration)
    }

    public let failureThreshold: Int
    public let window: Duration
    public let cooldown: Duration
    public private(set) var state: State = .closed
    private var failures: [Instant] = []

    public init(failureThreshold: Int, window: Duration, cooldown: Duration) {
        precondition(failureThreshold > 0)
        self.failureThreshold = failureThreshold
        self.window = window
        self.cooldown = cooldown
    }

    public mutating func acquire(now: Instant) -> Permission {
        switch state {
        case .closed:
            return .allowed
        case .open(let until):
            if now >= until {
                state = .halfOpen(probeInFlight: true)
                return .probe
            }
            return .refused(retryAfter: now.duration(to: until))
        case .halfOpen(let probeInFlight):
            if probeInFlight {
                return .refused(retryAfter: cooldown)
            }
            state = .halfOpen(probeInFlight: true)
            return .probe
        }
    }

    public mutating func recordSuccess(now: Instant) {
        switch state {
        case .halfOpen:
            state = .closed
            failures.removeAll()
        case .closed:
            break
        case .open:
            // A call admitted before the breaker opened finished well; the cooldown still runs.
            break
        }
    }

    public mutating func recordFailure(now: Instant) {
        switch state {
        case .halfOpen:
            state = .open(until: now.advanced(by: cooldown))
        case .closed:
            let window = self.window
            failures.removeAll { $0.duration(to: now) >= window }
            failures.append(now)
            if failures.count >= failureThreshold {
                state = .open(until: now.advanced(by: cooldown))
                failures.removeAll()
            }
        case .open:
            break
        }
    }

    /// A probe that ended without an outcome (the agent went away): let another probe through.
    public mutating func releaseProbe() {
        if case .halfOpen(true) = state {
            state = .halfOpen(probeInFlight: false)
        }
    }
}
