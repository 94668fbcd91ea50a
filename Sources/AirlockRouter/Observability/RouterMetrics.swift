import Prometheus

/// The router's Prometheus metrics. Names follow Prometheus conventions (base units, `_total` for
/// counters); labels take only values from configuration or fixed sets — never a value an agent sends.
final class RouterMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    private static let latencyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5),
        .seconds(10), .seconds(30), .seconds(60),
    ]
    private static let appendBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
        .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(100),
    ]

    func request(route: String, status: Int, sandbox: String) {
        registry.makeCounter(
            name: "airlock_requests_total",
            labels: [("route", route), ("status", String(status)), ("sandbox", sandbox)],
            help: "Requests answered, by route, HTTP status and sandbox."
        ).increment()
    }

    func refusal(reason: String, sandbox: String) {
        registry.makeCounter(
            name: "airlock_admission_refusals_total",
            labels: [("reason", reason), ("sandbox", sandbox)],
            help: "Requests refused by the router itself, by reason code (rate_limited, budget_exceeded, ...)."
        ).increment()
    }

    func upstreamLatency(upstream: String, _ duration: Duration) {
        registry.makeDurationHistogram(
            name: "airlock_upstream_response_seconds",
            labels: [("upstream", upstream)],
            buckets: Self.latencyBuckets,
            help: "Time from sending a request upstream to its response head, per attempt."
        ).record(duration)
    }

    func upstreamAttempt(upstream: String, outcome: String) {
        registry.makeCounter(
            name: "airlock_upstream_attempts_total",
            labels: [("upstream", upstream), ("outcome", outcome)],
            help: "Upstream attempts by outcome: ok, retried, failed, breaker_open."
        ).increment()
    }

    func retry(upstream: String) {
        registry.makeCounter(
            name: "airlock_upstream_retries_total",
            labels: [("upstream", upstream)],
            help: "Attempts repeated after a retryable failure."
        ).increment()
    }

    func breakerState(upstream: String, _ value: Double) {
        registry.makeGauge(
            name: "airlock_upstream_breaker_state",
            labels: [("upstream", upstream)],
            help: "Circuit breaker state: 0 closed, 1 half-open, 2 open."
        ).set(value)
    }

    func budgetRemaining(tenant: String, period: String, _ tokens: Int) {
        registry.makeGauge(
            name: "airlock_budget_remaining_tokens",
            labels: [("tenant", tenant), ("period", period)],
            help: "Tokens left in the tenant's budget for the current UTC period."
        ).set(Double(tokens))
    }

    func receiptAppend(kind: String, _ duration: Duration, ok: Bool) {
        registry.makeCounter(
            name: "airlock_receipt_appends_total",
            labels: [("kind", kind), ("result", ok ? "ok" : "error")],
            help: "Receipt records appended (durable per the configured durability)."
        ).increment()
        registry.makeDurationHistogram(
            name: "airlock_receipt_append_seconds",
            labels: [],
            buckets: Self.appendBuckets,
            help: "Time for a receipt append to return (includes fdatasync under durability: sync)."
        ).record(duration)
    }

    func egress(sandbox: String, decision: String, reason: String) {
        registry.makeCounter(
            name: "airlock_egress_decisions_total",
            labels: [("sandbox", sandbox), ("decision", decision), ("reason", reason)],
            help: "Egress proxy decisions."
        ).increment()
    }

    func reload(ok: Bool) {
        registry.makeCounter(
            name: "airlock_config_reloads_total",
            labels: [("result", ok ? "ok" : "error")],
            help: "Configuration reloads on SIGHUP."
        ).increment()
    }

    func inFlight(_ value: Int) {
        registry.makeGauge(name: "airlock_requests_in_flight", labels: [], help: "Requests being served.").set(Double(value))
    }

    func connections(_ value: Int) {
        registry.makeGauge(name: "airlock_open_connections", labels: [], help: "Open agent connections.").set(Double(value))
    }
}
