import AirlockPolicy

/// One configured upstream at run time: its provider mapping, its client and origin, and its circuit breaker.
final class Upstream: Sendable {
    let name: String
    let config: UpstreamConfig
    let provider: any Provider
    let client: UpstreamHTTPClient
    let origin: UpstreamOrigin
    /// The upstream's host name, as receipts record it.
    var host: String { origin.host }
    /// Shared with the upstream of the same name after a reload that changed neither its address nor its
    /// breaker settings, so a reload neither closes an open breaker nor forgets recent failures.
    let breaker: Locked<CircuitBreaker<ContinuousClock.Instant>>

    init(config: UpstreamConfig, url: UpstreamURL, provider: any Provider, client: UpstreamHTTPClient, previous: Upstream? = nil) {
        self.name = config.name
        self.config = config
        self.provider = provider
        self.client = client
        self.origin = UpstreamOrigin(
            tls: url.tls,
            host: url.host,
            port: url.port,
            caFile: config.caFile,
            connectTimeout: config.timeouts.connect.nanoseconds
        )
        let keep = previous.flatMap { $0.config.baseURL == config.baseURL && $0.config.breaker == config.breaker ? $0.breaker : nil }
        self.breaker = Locked.breaker(config.breaker, previous: keep)
    }

    func acquire() -> CircuitBreaker<ContinuousClock.Instant>.Permission { breaker.acquire() }
    func recordSuccess() { breaker.recordSuccess() }
    func recordFailure() { breaker.recordFailure() }
    func releaseProbe() { breaker.releaseProbe() }

    var breakerState: CircuitBreaker<ContinuousClock.Instant>.State {
        breaker.withLock { $0.state }
    }
}

/// A breaker shared by the requests of one upstream or MCP server, read against the continuous clock.
extension Locked where Value == CircuitBreaker<ContinuousClock.Instant> {
    /// `previous` when given (a reload that changed neither the address nor the settings), else a closed breaker.
    static func breaker(_ settings: BreakerSettings, previous: Locked?) -> Locked {
        previous
            ?? Locked(
                CircuitBreaker(
                    failureThreshold: settings.failures,
                    window: settings.window.duration,
                    cooldown: settings.cooldown.duration
                )
            )
    }

    func acquire() -> CircuitBreaker<ContinuousClock.Instant>.Permission {
        let now = ContinuousClock.now
        return withLock { $0.acquire(now: now) }
    }

    func recordSuccess() {
        let now = ContinuousClock.now
        withLock { $0.recordSuccess(now: now) }
    }

    func recordFailure() {
        let now = ContinuousClock.now
        withLock { $0.recordFailure(now: now) }
    }

    func releaseProbe() {
        withLock { $0.releaseProbe() }
    }
}
