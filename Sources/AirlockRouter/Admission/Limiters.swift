import AirlockPolicy
import Synchronization

/// The router's rate and concurrency limits: one global token bucket and one per sandbox, one global
/// in-flight cap and one per sandbox. Locks are held for arithmetic only, never across I/O.
final class Limiters: Sendable {
    typealias Bucket = TokenBucket<ContinuousClock.Instant>

    private let global: Mutex<Bucket>
    private let perSandbox: [String: Locked<Bucket>]
    private let inFlight: Mutex<(total: Int, bySandbox: [String: Int])>
    private let maxConcurrent: Int
    private let sandboxMaxConcurrent: [String: Int]

    init(limits: RouterLimits, sandboxes: [SandboxPolicy]) {
        let now = ContinuousClock.now
        global = Mutex(Bucket(rate: limits.rate.rps, burst: limits.rate.burst, now: now))
        var per: [String: Locked<Bucket>] = [:]
        var caps: [String: Int] = [:]
        for sandbox in sandboxes {
            per[sandbox.name] = Locked(Bucket(rate: sandbox.rate.rps, burst: sandbox.rate.burst, now: now))
            caps[sandbox.name] = sandbox.maxConcurrent
        }
        perSandbox = per
        sandboxMaxConcurrent = caps
        maxConcurrent = limits.maxConcurrent
        inFlight = Mutex((0, [:]))
    }

    /// Takes a token from the global bucket and the sandbox's; a 429 with Retry-After when either is empty.
    func admitRate(sandbox: String) -> RouterError? {
        let now = ContinuousClock.now
        if case .limited(let wait) = global.withLock({ $0.take(now: now) }) {
            return Self.rateLimited(wait, scope: "the router")
        }
        if let bucket = perSandbox[sandbox], case .limited(let wait) = bucket.withLock({ $0.take(now: now) }) {
            return Self.rateLimited(wait, scope: "sandbox \"\(sandbox)\"")
        }
        return nil
    }

    /// Reserves an in-flight slot; nil when the global or the sandbox cap is reached (503).
    func acquireSlot(sandbox: String) -> RouterError? {
        let cap = sandboxMaxConcurrent[sandbox] ?? maxConcurrent
        return inFlight.withLock { state in
            if state.total >= maxConcurrent {
                return RouterError(status: 503, reason: "router_busy", message: "The router is at its limit of \(maxConcurrent) concurrent requests; retry shortly.", retryAfterSeconds: 1)
            }
            let mine = state.bySandbox[sandbox, default: 0]
            if mine >= cap {
                return RouterError(status: 503, reason: "sandbox_busy", message: "Sandbox \"\(sandbox)\" is at its limit of \(cap) concurrent requests; retry shortly.", retryAfterSeconds: 1)
            }
            state.total += 1
            state.bySandbox[sandbox] = mine + 1
            return nil
        }
    }

    func releaseSlot(sandbox: String) {
        inFlight.withLock { state in
            state.total -= 1
            state.bySandbox[sandbox, default: 1] -= 1
        }
    }

    private static func rateLimited(_ wait: Duration, scope: String) -> RouterError {
        let seconds = max(1, Int64((Double(wait.nanoseconds) / 1e9).rounded(.up)))
        return RouterError(status: 429, reason: "rate_limited", message: "Rate limit of \(scope) reached; retry after \(seconds) s.", retryAfterSeconds: seconds)
    }
}
