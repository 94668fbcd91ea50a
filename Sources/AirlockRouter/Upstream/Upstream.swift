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
        if let previous, previous.config.baseURL == config.baseURL, previous.config.breaker == config.breaker {
            self.breaker = previous.breaker
        } else {
            self.breaker = Locked(
                CircuitBreaker(
                    failureThreshold: config.breaker.failures,
                    window: config.breaker.window.duration,
                    cooldown: config.breaker.cooldown.duration
                )
            )
        }
    }

    func acquire() -> CircuitBreaker<ContinuousClock.Instant>.Permission {
        let now = ContinuousClock.now
        return breaker.withLock { $0.acquire(now: now) }
    }

    func recordSuccess() {
        let now = ContinuousClock.now
        breaker.withLock { $0.recordSuccess(now: now) }
    }

    func recordFailure() {
        let now = ContinuousClock.now
        breaker.withLock { $0.recordFailure(now: now) }
    }

    func releaseProbe() {
        breaker.withLock { $0.releaseProbe() }
    }

    var breakerState: CircuitBreaker<ContinuousClock.Instant>.State {
        breaker.withLock { $0.state }
    }
}
