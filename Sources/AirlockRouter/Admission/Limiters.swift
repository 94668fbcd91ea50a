import AirlockPolicy
import Synchronization

/// The router's rate and concurrency limits: one global token bucket and one per sandbox, one global
/// in-flight cap and one per sandbox. Locks are held for arithmetic only, never across I/O.
///
/// A reload builds new limiters from the previous ones: buckets whose settings did not change are the same
/// buckets, changed ones keep the tokens they had left, and the in-flight counts are shared, so requests
/// still running under the old configuration count against the new caps. A reload never resets a limit.
final class Limiters: Sendable {
    typealias Bucket = TokenBucket<ContinuousClock.Instant>
    typealias InFlight = (total: Int, bySandbox: [String: Int])

    private let global: Locked<Bucket>
    /// Shared by peers mapped to no sandbox; they take nothing from the global bucket.
    private let unknownPeers: Locked<Bucket>
    /// Refusals past these limits, counted rather than recorded one by one; carried across reloads.
    let flood: FloodTally
    private let perSandbox: [String: Locked<Bucket>]
    private let inFlight: Locked<InFlight>
    private let maxConcurrent: Int
    private let sandboxMaxConcurrent: [String: Int]

    init(limits: RouterLimits, sandboxes: [SandboxPolicy], previous: Limiters? = nil) {
        let now = ContinuousClock.now
        global = Self.bucket(rate: limits.rate, now: now, previous: previous?.global)
        unknownPeers = Self.bucket(rate: limits.unknownPeerRate, now: now, previous: previous?.unknownPeers)
        flood = previous?.flood ?? FloodTally()
        var per: [String: Locked<Bucket>] = [:]
        var caps: [String: Int] = [:]
        for sandbox in sandboxes {
            per[sandbox.name] = Self.bucket(rate: sandbox.rate, now: now, previous: previous?.perSandbox[sandbox.name])
            caps[sandbox.name] = sandbox.maxConcurrent
        }
        perSandbox = per
        sandboxMaxConcurrent = caps
        maxConcurrent = limits.maxConcurrent
        inFlight = previous?.inFlight ?? Locked((0, [:]))
    }

    static func bucket(rate: RateSettings, now: ContinuousClock.Instant, previous: Locked<Bucket>?) -> Locked<Bucket> {
        guard let previous else { return Locked(Bucket(rate: rate.rps, burst: rate.burst, now: now)) }
        let old = previous.withLock { $0 }
        if old.rate == rate.rps && old.burst == Double(rate.burst) { return previous }
        return Locked(Bucket(rate: rate.rps, burst: rate.burst, now: now, carrying: old))
    }

    /// Takes a token from the global bucket and the sandbox's (for a peer of no sandbox: from the unknown peers'
    /// bucket only); a 429 with Retry-After when one is empty. Every request passes here before any other work.
    func admitRate(sandbox: String?) -> RouterError? {
        let now = ContinuousClock.now
        guard let sandbox else {
            if case .limited(let wait) = unknownPeers.withLock({ $0.take(now: now) }) {
                return Self.rateLimited(wait, scope: "peers of no sandbox")
            }
            return nil
        }
        if case .limited(let wait) = global.withLock({ $0.take(now: now) }) {
            return Self.rateLimited(wait, scope: "the router")
        }
        if let bucket = perSandbox[sandbox], case .limited(let wait) = bucket.withLock({ $0.take(now: now) }) {
            return Self.rateLimited(wait, scope: "sandbox \"\(sandbox)\"")
        }
        return nil
    }

    /// Reserves an in-flight slot; nil when the global or the sandbox cap is reached (503).
    /// Takes a slot of `sandbox` for one request, or says why not.
    func leaseSlot(sandbox: String) -> Result<SlotLease, RouterError> {
        if let refusal = acquireSlot(sandbox: sandbox) { return .failure(refusal) }
        return .success(SlotLease(limiters: self, sandbox: sandbox))
    }

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

    /// Requests holding a slot now (metrics and tests: every path must bring it back to zero).
    var inFlightTotal: Int { inFlight.withLock { $0.total } }

    func releaseSlot(sandbox: String) {
        inFlight.withLock { state in
            state.total -= 1
            state.bySandbox[sandbox, default: 1] -= 1
        }
    }

    static func rateLimited(_ wait: Duration, scope: String) -> RouterError {
        let seconds = max(1, Int64((Double(wait.nanoseconds) / 1e9).rounded(.up)))
        return RouterError(status: 429, reason: "rate_limited", message: "Rate limit of \(scope) reached; retry after \(seconds) s.", retryAfterSeconds: seconds)
    }
}

/// One request's concurrency slot, given back exactly once: just before the agent can see the request's answer
/// complete (so an agent that sends its next request the moment it has one is never refused for the slot of the
/// one before), or however else the request ends.
final class SlotLease: Sendable {
    private let limiters: Limiters
    private let sandbox: String
    private let released = Atomic<Bool>(false)

    fileprivate init(limiters: Limiters, sandbox: String) {
        self.limiters = limiters
        self.sandbox = sandbox
    }

    func release() {
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        limiters.releaseSlot(sandbox: sandbox)
    }
}
