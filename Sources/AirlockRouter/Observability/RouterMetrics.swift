import Prometheus

/// The router's Prometheus metrics. Names follow Prometheus conventions (base units, `_total` for
/// counters); labels take only values from configuration or fixed sets — never a value an agent sends.
final class RouterMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    /// Metric handles by name and label values, so the request path does not rebuild a labelled metric (name
    /// and help validation, a registry lock) on every request. Bounded: labels come from configuration.
    private struct Key: Hashable {
        let name: String
        let labels: [String]

        init(_ name: String, _ labels: [(String, String)]) {
            self.name = name
            self.labels = labels.map(\.1)
        }
    }
    private let counters = Locked<[Key: Counter]>([:])
    private let gauges = Locked<[Key: Gauge]>([:])
    private let histograms = Locked<[Key: DurationHistogram]>([:])

    private static func cached<M>(_ cache: Locked<[Key: M]>, _ key: Key, _ make: () -> M) -> M {
        if let hit = cache.withLock({ $0[key] }) { return hit }
        let made = make()
        cache.withLock { $0[key] = made }
        return made
    }

    private func counter(_ name: String, _ labels: [(String, String)], help: String) -> Counter {
        Self.cached(counters, Key(name, labels)) { registry.makeCounter(name: name, labels: labels, help: help) }
    }

    private func gauge(_ name: String, _ labels: [(String, String)], help: String) -> Gauge {
        Self.cached(gauges, Key(name, labels)) { registry.makeGauge(name: name, labels: labels, help: help) }
    }

    private func histogram(_ name: String, _ labels: [(String, String)], buckets: [Duration], help: String) -> DurationHistogram {
        Self.cached(histograms, Key(name, labels)) {
            registry.makeDurationHistogram(name: name, labels: labels, buckets: buckets, help: help)
        }
    }

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
        counter("airlock_requests_total", [("route", route), ("status", String(status)), ("sandbox", sandbox)], help: "Requests answered, by route, HTTP status and sandbox.").increment()
    }

    func refusal(reason: String, sandbox: String) {
        counter("airlock_admission_refusals_total", [("reason", reason), ("sandbox", sandbox)], help: "Requests refused by the router itself, by reason code (rate_limited, budget_exceeded, ...).").increment()
    }

    func upstreamLatency(upstream: String, _ duration: Duration) {
        histogram("airlock_upstream_response_seconds", [("upstream", upstream)], buckets: Self.latencyBuckets, help: "Time from sending a request upstream to its response head, per attempt.").record(duration)
    }

    func upstreamAttempt(upstream: String, outcome: String) {
        counter("airlock_upstream_attempts_total", [("upstream", upstream), ("outcome", outcome)], help: "Upstream attempts by outcome: ok, retried, failed, breaker_open.").increment()
    }

    func retry(upstream: String) {
        counter("airlock_upstream_retries_total", [("upstream", upstream)], help: "Attempts repeated after a retryable failure.").increment()
    }

    /// One MCP request: `server` is a configured name, `method` one of ``MCPGateway/metricMethod(_:)``'s few values.
    func mcp(server: String, method: String, outcome: String) {
        counter("airlock_mcp_requests_total", [("server", server), ("method", method), ("outcome", outcome)], help: "MCP gateway requests by server, method (initialize, tools/list, tools/call, other) and outcome (ok, error, deny).").increment()
    }

    /// Tools taken out of `tools/list` answers: not allowed, or changed under a pin.
    func mcpToolsWithheld(server: String, reason: String, _ count: Int) {
        counter("airlock_mcp_tools_withheld_total", [("server", server), ("reason", reason)], help: "Tools the MCP gateway took out of tools/list answers, by server and reason (not_allowed, pin_mismatch).").increment(by: Int64(count))
    }

    func mcpBreakerState(server: String, _ value: Double) {
        gauge("airlock_mcp_breaker_state", [("server", server)], help: "MCP server circuit breaker state: 0 closed, 1 half-open, 2 open.").set(value)
    }

    func breakerState(upstream: String, _ value: Double) {
        gauge("airlock_upstream_breaker_state", [("upstream", upstream)], help: "Circuit breaker state: 0 closed, 1 half-open, 2 open.").set(value)
    }

    func budgetRemaining(tenant: String, period: String, _ tokens: Int) {
        gauge("airlock_budget_remaining_tokens", [("tenant", tenant), ("period", period)], help: "Tokens left in the tenant's budget for the current UTC period.").set(Double(tokens))
    }

    /// One call to the budget ledger's database (`operation`: reserve, settle, remaining, lease, sweep, ...).
    func ledgerCall(operation: String, _ duration: Duration, ok: Bool) {
        histogram("airlock_ledger_call_seconds", [("operation", operation)], buckets: Self.appendBuckets, help: "Time a call to the shared budget ledger took, by operation (timeouts included).").record(duration)
        if !ok {
            counter("airlock_ledger_errors_total", [("operation", operation)], help: "Calls to the shared budget ledger that failed or timed out, by operation.").increment()
        }
    }

    func receiptAppend(kind: String, _ duration: Duration, ok: Bool) {
        counter("airlock_receipt_appends_total", [("kind", kind), ("result", ok ? "ok" : "error")], help: "Receipt records appended (durable per the configured durability).").increment()
        histogram("airlock_receipt_append_seconds", [], buckets: Self.appendBuckets, help: "Time for a receipt append to return (includes fdatasync under durability: sync).").record(duration)
    }

    func egress(sandbox: String, decision: String, reason: String) {
        counter("airlock_egress_decisions_total", [("sandbox", sandbox), ("decision", decision), ("reason", reason)], help: "Egress proxy decisions.").increment()
    }

    func reload(ok: Bool) {
        counter("airlock_config_reloads_total", [("result", ok ? "ok" : "error")], help: "Configuration reloads on SIGHUP.").increment()
    }

    func inFlight(_ value: Int) {
        gauge("airlock_requests_in_flight", [], help: "Requests being served.").set(Double(value))
    }

    func connections(_ value: Int) {
        gauge("airlock_open_connections", [], help: "Open agent connections.").set(Double(value))
    }
}
