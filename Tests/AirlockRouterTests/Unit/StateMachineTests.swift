import Testing

@testable import AirlockRouter

@Suite("Token bucket")
struct TokenBucketTests {
    @Test("a full bucket allows exactly `burst` requests, then limits with the time to the next token")
    func burstThenLimit() {
        var bucket = TokenBucket(rate: 10, burst: 3, now: ManualInstant.zero)
        for _ in 0..<3 { #expect(bucket.take(now: .zero) == .allowed) }
        #expect(bucket.take(now: .zero) == .limited(retryAfter: .milliseconds(100)))
    }

    @Test("tokens refill at the configured rate and never above burst")
    func refill() {
        var bucket = TokenBucket(rate: 2, burst: 2, now: ManualInstant.zero)
        #expect(bucket.take(now: .zero) == .allowed)
        #expect(bucket.take(now: .zero) == .allowed)
        #expect(bucket.take(now: .zero) != .allowed)
        let later = ManualInstant.zero.advanced(by: .milliseconds(500))
        #expect(bucket.take(now: later) == .allowed)
        #expect(bucket.take(now: later) != .allowed)
        let muchLater = later.advanced(by: .seconds(3600))
        #expect(bucket.take(now: muchLater) == .allowed)
        #expect(bucket.take(now: muchLater) == .allowed)
        #expect(bucket.take(now: muchLater) != .allowed)
    }

    @Test("the defaults from the issue: 50 rps burst 100 gives 100 then one every 20 ms")
    func sandboxDefaults() {
        var bucket = TokenBucket(rate: 50, burst: 100, now: ManualInstant.zero)
        var allowed = 0
        while bucket.take(now: .zero) == .allowed { allowed += 1 }
        #expect(allowed == 100)
        #expect(bucket.take(now: ManualInstant.zero.advanced(by: .milliseconds(20))) == .allowed)
    }
}

@Suite("Circuit breaker")
struct CircuitBreakerTests {
    typealias Breaker = CircuitBreaker<ManualInstant>

    @Test("opens after N failures within the window, refuses during cooldown, probes once, closes on success")
    func fullCycle() {
        var breaker = Breaker(failureThreshold: 3, window: .seconds(10), cooldown: .seconds(5))
        var now = ManualInstant.zero
        for _ in 0..<2 {
            #expect(breaker.acquire(now: now) == .allowed)
            breaker.recordFailure(now: now)
        }
        #expect(breaker.state == .closed)
        breaker.recordFailure(now: now)
        #expect(breaker.state == .open(until: now.advanced(by: .seconds(5))))
        now = now.advanced(by: .seconds(2))
        #expect(breaker.acquire(now: now) == .refused(retryAfter: .seconds(3)))
        now = now.advanced(by: .seconds(3))
        #expect(breaker.acquire(now: now) == .probe)
        #expect(breaker.acquire(now: now) == .refused(retryAfter: .seconds(5)))
        breaker.recordSuccess(now: now)
        #expect(breaker.state == .closed)
        #expect(breaker.acquire(now: now) == .allowed)
    }

    @Test("a failed probe opens the breaker for another cooldown")
    func failedProbe() {
        var breaker = Breaker(failureThreshold: 1, window: .seconds(10), cooldown: .seconds(5))
        breaker.recordFailure(now: .zero)
        let t1 = ManualInstant.zero.advanced(by: .seconds(5))
        #expect(breaker.acquire(now: t1) == .probe)
        breaker.recordFailure(now: t1)
        #expect(breaker.state == .open(until: t1.advanced(by: .seconds(5))))
        #expect(breaker.acquire(now: t1.advanced(by: .seconds(1))) == .refused(retryAfter: .seconds(4)))
    }

    @Test("failures older than the window do not count")
    func windowExpiry() {
        var breaker = Breaker(failureThreshold: 2, window: .seconds(10), cooldown: .seconds(5))
        breaker.recordFailure(now: .zero)
        breaker.recordFailure(now: ManualInstant.zero.advanced(by: .seconds(11)))
        #expect(breaker.state == .closed)
        breaker.recordFailure(now: ManualInstant.zero.advanced(by: .seconds(12)))
        #expect(breaker.state != .closed)
    }

    @Test("a probe abandoned by a vanished agent lets the next probe through")
    func releasedProbe() {
        var breaker = Breaker(failureThreshold: 1, window: .seconds(10), cooldown: .seconds(1))
        breaker.recordFailure(now: .zero)
        let t = ManualInstant.zero.advanced(by: .seconds(1))
        #expect(breaker.acquire(now: t) == .probe)
        breaker.releaseProbe()
        #expect(breaker.acquire(now: t) == .probe)
    }
}

@Suite("Retry schedule")
struct RetryScheduleTests {
    let schedule = RetrySchedule(attempts: 3, base: .milliseconds(250), cap: .seconds(8), maxRetryAfter: .seconds(30))

    @Test("retries only connect/timeout failures and 429/502/503/504", arguments: [
        (RetrySchedule.Failure.transport, true), (.status(429), true), (.status(502), true), (.status(503), true),
        (.status(504), true), (.status(500), false), (.status(400), false), (.status(401), false),
        (.status(403), false), (.status(404), false), (.status(200), false),
    ])
    func retryable(failure: RetrySchedule.Failure, expected: Bool) {
        var random = SeededRandom(state: 1)
        #expect((schedule.delay(after: 1, failure: failure, retryAfter: nil, using: &random) != nil) == expected)
    }

    @Test("no delay is given once the attempts are used up")
    func bounded() {
        var random = SeededRandom(state: 1)
        #expect(schedule.delay(after: 2, failure: .transport, retryAfter: nil, using: &random) != nil)
        #expect(schedule.delay(after: 3, failure: .transport, retryAfter: nil, using: &random) == nil)
    }

    @Test("full jitter stays within [0, min(cap, base·2^(n-1))] and actually varies")
    func jitterBounds() {
        let wide = RetrySchedule(attempts: 10, base: .milliseconds(250), cap: .seconds(8), maxRetryAfter: .seconds(30))
        var random = SeededRandom(state: 42)
        for attempt in 1..<10 {
            let ceiling = wide.backoffCeiling(after: attempt)
            #expect(ceiling == min(.seconds(8), .milliseconds(250 * (1 << (attempt - 1)))))
            var seen = Set<Int64>()
            for _ in 0..<200 {
                let d = wide.delay(after: attempt, failure: .transport, retryAfter: nil, using: &random)!
                #expect(d >= .zero && d <= ceiling)
                seen.insert(d.nanoseconds)
            }
            #expect(seen.count > 100)
        }
    }

    @Test("Retry-After replaces the jitter and is clamped to max_retry_after")
    func retryAfter() {
        var random = SeededRandom(state: 7)
        #expect(schedule.delay(after: 1, failure: .status(429), retryAfter: .seconds(2), using: &random) == .seconds(2))
        #expect(schedule.delay(after: 1, failure: .status(503), retryAfter: .seconds(3600), using: &random) == .seconds(30))
        #expect(schedule.delay(after: 3, failure: .status(503), retryAfter: .seconds(1), using: &random) == nil)
    }
}
