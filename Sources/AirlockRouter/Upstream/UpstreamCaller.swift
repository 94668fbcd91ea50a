import AirlockPolicy
import Logging
import NIOCore
import NIOHTTP1

/// One call to the upstreams of a model route: attempts with retry on the same upstream, then failover
/// along the route's list, each upstream guarded by its circuit breaker. Nothing has reached the agent while
/// this runs, which is what makes retrying safe; it returns the first response worth passing on.
struct UpstreamCaller: Sendable {
    let metrics: RouterMetrics
    let schedule: RetrySchedule

    struct Attempted: Sendable {
        let upstream: Upstream
        let head: UpstreamResponseHead
        /// Holds the response body: relay it to the agent.
        let exchange: UpstreamExchange
        /// Attempts made in total, across upstreams.
        let attempts: Int
        let upstreamModel: String
    }

    struct Request: Sendable {
        let endpoint: Endpoint
        let shape: RequestShape
        let rewrite: RequestShape.Rewrite
        let headers: HTTPHeaders
        /// The agent connection's event loop: the upstream connection is taken from its pool.
        let eventLoop: any EventLoop
    }

    /// Calls the route's targets in order. Throws `RouterError` when no upstream could produce a response
    /// (502 unreachable, 503 all breakers open, 429 when another attempt would not fit the tenant's budget), or
    /// `CancellationError` when the agent went away. Each attempt runs under `budget`'s reservation: one that
    /// reached the provider and may have generated is charged in full before the next is made.
    func call(
        _ request: Request,
        targets: [(Upstream, String)],
        budget: inout BudgetHold,
        logger: Logger
    ) async throws -> Attempted {
        var attempts = 0
        var lastError: RouterError?
        var generator = BufferedRandom()
        for (index, (upstream, model)) in targets.enumerated() {
            let isLastTarget = index == targets.count - 1
            var rewrite = request.rewrite
            rewrite.model = model
            let target: String
            do {
                target = try upstream.provider.target(for: request.endpoint, model: model)
            } catch {
                lastError = error
                continue
            }
            let body = ByteBuffer(bytes: request.shape.body(rewrite))
            var attempt = 0
            while true {
                attempt += 1
                try await budget.renew(now: WallClock.nanoseconds() / 1_000_000_000)
                let permission = upstream.acquire()
                if case .refused(let retryAfter) = permission {
                    metrics.upstreamAttempt(upstream: upstream.name, outcome: "breaker_open")
                    logger.debug("breaker open", metadata: ["upstream.name": "\(upstream.name)"])
                    let seconds = max(1, Int64((Double(retryAfter.nanoseconds) / 1e9).rounded(.up)))
                    let refusal = RouterError(
                        status: 503,
                        reason: "upstream_unavailable",
                        message: "Every upstream for this model is failing; try again later.",
                        retryAfterSeconds: min(seconds, lastError?.retryAfterSeconds ?? seconds)
                    )
                    lastError = refusal
                    break
                }
                attempts += 1
                budget.spent = true
                var outbound = UpstreamRequest(target: target, headers: request.headers, body: body)
                upstream.provider.decorate(&outbound.headers, inbound: request.headers)
                let nextDelay: Duration?
                do {
                    let timeouts = upstream.config.timeouts
                    let sent = NIODeadline.now()
                    let (response, exchange) = try await upstream.client.execute(
                        outbound,
                        origin: upstream.origin,
                        on: request.eventLoop,
                        headDeadline: sent + .nanoseconds(timeouts.responseHeaders.nanoseconds),
                        readTimeout: .nanoseconds(timeouts.idle.nanoseconds)
                    )
                    metrics.upstreamLatency(upstream: upstream.name, .nanoseconds(Int64((NIODeadline.now() - sent).nanoseconds)))
                    let status = Int(response.status.code)
                    let retryable = RetrySchedule.isRetryable(.status(status))
                    if status >= 500 {
                        upstream.recordFailure()
                    } else {
                        upstream.recordSuccess()
                    }
                    let retryAfter = retryable ? Self.retryAfter(response.headers) : nil
                    let delay =
                        retryable
                        ? schedule.delay(after: attempt, failure: .status(status), retryAfter: retryAfter, using: &generator)
                        : nil
                    if !retryable || (delay == nil && isLastTarget) {
                        metrics.upstreamAttempt(upstream: upstream.name, outcome: status >= 500 ? "failed" : "ok")
                        return Attempted(upstream: upstream, head: response, exchange: exchange, attempts: attempts, upstreamModel: model)
                    }
                    // This response is dropped for a retry or a failover.
                    exchange.discard()
                    budget.spent = BudgetHold.mayHaveGenerated(status: status)
                    metrics.upstreamAttempt(upstream: upstream.name, outcome: "retried")
                    nextDelay = delay
                    lastError = RouterError(
                        status: status == 429 ? 429 : 502,
                        reason: status == 429 ? "upstream_rate_limited" : "upstream_error",
                        message: "The upstream answered \(status).",
                        retryAfterSeconds: retryAfter.map { max(1, $0.components.seconds) }
                    )
                } catch is CancellationError {
                    upstream.releaseProbe()
                    throw CancellationError()
                } catch {
                    if Task.isCancelled {
                        upstream.releaseProbe()
                        throw CancellationError()
                    }
                    upstream.recordFailure()
                    budget.spent = (error as? UpstreamTransportError)?.reachedProvider ?? true
                    logger.info(
                        "upstream attempt failed",
                        metadata: ["upstream.name": "\(upstream.name)", "error": "\(Self.describe(error))", "attempt": "\(attempt)"]
                    )
                    metrics.upstreamAttempt(upstream: upstream.name, outcome: "failed")
                    if case .protocolError = error as? UpstreamTransportError {
                        // The upstream answered, but with something no agent may be given: asking it again
                        // would only repeat that. The next upstream of the route may still serve.
                        lastError = RouterError(
                            status: 502,
                            reason: "upstream_protocol_error",
                            message: "The upstream's answer was not valid HTTP for this request (\(Self.describe(error)))."
                        )
                        nextDelay = nil
                    } else {
                        lastError = RouterError(
                            status: 502,
                            reason: "upstream_unreachable",
                            message: "The upstream could not be reached (\(Self.describe(error)))."
                        )
                        nextDelay = schedule.delay(after: attempt, failure: .transport, retryAfter: nil, using: &generator)
                    }
                }
                guard let wait = nextDelay else { break }
                metrics.retry(upstream: upstream.name)
                try await Task.sleep(for: wait)
            }
        }
        throw lastError ?? RouterError(status: 502, reason: "no_upstream", message: "No upstream serves this model.")
    }

    /// Retry-After as seconds, or `retry-after-ms` (OpenAI) as milliseconds.
    static func retryAfter(_ headers: HTTPHeaders) -> Duration? {
        if let ms = headers.first(name: "retry-after-ms").flatMap({ Double($0) }), ms >= 0, ms.isFinite {
            return .milliseconds(Int64(min(ms, 86_400_000)))
        }
        if let seconds = headers.first(name: "retry-after").flatMap({ Int64($0.trimmingWhitespace()) }), seconds >= 0 {
            return .seconds(min(seconds, 86_400))
        }
        return nil
    }

    /// A short, credential-free description of a transport error.
    static func describe(_ error: any Error) -> String {
        if let error = error as? UpstreamTransportError {
            return error.description
        }
        return String(describing: type(of: error))
    }
}
