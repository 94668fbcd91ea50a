import AirlockPolicy
import Synchronization

/// One configured upstream at run time: its provider mapping, its client and origin, and its circuit breaker.
final class Upstream: Sendable {
    let name: String
    let config: UpstreamConfig
    let provider: any Provider
    let client: UpstreamHTTPClient
    let origin: UpstreamOrigin
    /// The upstream's host name, as receipts record it.
    var host: String { origin.host }
    private let breaker: Mutex<CircuitBreaker<ContinuousClock.Instant>>

    init(config: UpstreamConfig, url: UpstreamURL, provider: any Provider, client: UpstreamHTTPClient) {
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
        self.breaker = Mutex(
            CircuitBreaker(
                failureThreshold: config.breaker.failures,
                window: config.breaker.window.duration,
                cooldown: config.breaker.cooldown.duration
            )
        )
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
