import AirlockMockUpstream
import AirlockPolicy
import AirlockTestSupport
import AsyncHTTPClient
import NIOCore
import NIOCore
import NIOHTTP1
import Testing

@testable import AirlockRouter

/// Every admission rule over real sockets: the status, the provider-shaped body, and no upstream call.
@Suite("Admission end to end", .timeLimit(.minutes(1)))
struct AdmissionTests {
    @Test("body over the cap: 413, OpenAI shape, nothing forwarded")
    func bodyTooLarge() async throws {
        try await withHarness(configure: { c, _ in c.router.limits.maxBodyBytes = 1024 }) { h in
            let big = Harness.chat(extra: #","pad":""# + String(repeating: "x", count: 2000) + "\"")
            let r = try await h.request("/v1/chat/completions", body: big)
            #expect(r.status == 413)
            #expect(r.body.contains("\"code\":\"body_too_large\""))
            #expect(h.mock.requestCount == 0)
        }
    }

    @Test("content types outside the allowlist: 415", arguments: ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
    func contentType(type: String) async throws {
        try await withHarness { h in
            let r = try await h.request("/v1/chat/completions", body: Harness.chat(), headers: [("content-type", type)])
            #expect(r.status == 415)
            #expect(r.body.contains("unsupported_media_type"))
            #expect(h.mock.requestCount == 0)
        }
    }

    @Test("content type with parameters is accepted")
    func contentTypeParameters() async throws {
        try await withHarness { h in
            let r = try await h.request("/v1/chat/completions", body: Harness.chat(), headers: [("content-type", "Application/JSON; charset=utf-8")])
            #expect(r.status == 200)
        }
    }

    @Test("malformed JSON: 400 in the Anthropic shape on /v1/messages")
    func malformedAnthropic() async throws {
        try await withHarness { h in
            let r = try await h.request("/v1/messages", body: "{\"model\":")
            #expect(r.status == 400)
            #expect(r.body.hasPrefix("{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\""))
            #expect(h.mock.requestCount == 0)
        }
    }

    @Test("a model the sandbox may not use: 403; a model served by the other API: 400")
    func model() async throws {
        try await withHarness(configure: { c, _ in c.sandboxes[0].models = ["gpt-test"] }) { h in
            let r = try await h.request("/v1/chat/completions", body: Harness.chat(model: "embed-test"))
            #expect(r.status == 403)
            #expect(r.body.contains("model_not_allowed"))
            let unknown = try await h.request("/v1/chat/completions", body: Harness.chat(model: "gpt-5-secret"))
            #expect(unknown.status == 403)
            #expect(h.mock.requestCount == 0)
        }
        try await withHarness { h in
            let wrong = try await h.request("/v1/chat/completions", body: Harness.chat(model: "claude-test"))
            #expect(wrong.status == 400)
            #expect(wrong.body.contains("wrong_api"))
        }
    }

    @Test("max_tokens above the cap: 400 when the policy rejects, clamped when it clamps")
    func maxTokens() async throws {
        try await withHarness(configure: { c, _ in c.sandboxes[0].maxTokens = MaxTokensPolicy(cap: 100, onExceed: .reject) }) { h in
            let r = try await h.request("/v1/chat/completions", body: Harness.chat(extra: #","max_tokens":500"#))
            #expect(r.status == 400)
            #expect(r.body.contains("max_tokens_exceeded"))
            #expect(h.mock.requestCount == 0)
        }
        try await withHarness(configure: { c, _ in c.sandboxes[0].maxTokens = MaxTokensPolicy(cap: 100, onExceed: .clamp) }) { h in
            let r = try await h.request("/v1/chat/completions", body: Harness.chat(extra: #","max_tokens":500"#))
            #expect(r.status == 200)
            #expect(h.mock.recordedRequests()[0].body.contains("\"max_tokens\":100"))
        }
    }

    @Test("per-sandbox rate limit: 429 with Retry-After once the burst is spent")
    func sandboxRate() async throws {
        // One token per 20 s: a loaded machine cannot stretch the four requests long enough to earn another.
        try await withHarness(configure: { c, _ in c.sandboxes[0].rate = RateSettings(rps: 0.05, burst: 3) }) { h in
            let start = ContinuousClock.now
            for _ in 0..<3 {
                #expect(try await h.request("/v1/chat/completions", body: Harness.chat()).status == 200)
            }
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            let elapsed = ContinuousClock.now - start
            #expect(r.status == 429)
            #expect(r.body.contains("\"code\":\"rate_limited\""))
            // Whole seconds until the next token, rounded up: 20 less the refill since the first token was taken,
            // which is at most the time the four requests took.
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            let earliest = max(1, Int((20 - seconds).rounded(.down)))
            let retryAfter = r.headers.first(name: "retry-after").flatMap { Int($0) }
            #expect(retryAfter.map { (earliest...20).contains($0) } == true, "Retry-After: \(String(describing: retryAfter)) after \(elapsed)")
            #expect(h.mock.requestCount == 3)
        }
    }

    @Test("global rate limit applies across sandboxes")
    func globalRate() async throws {
        try await withHarness(configure: { c, _ in c.router.limits.rate = RateSettings(rps: 0.1, burst: 2) }) { h in
            #expect(try await h.request("/v1/chat/completions", body: Harness.chat()).status == 200)
            #expect(try await h.request("/v1/chat/completions", body: Harness.chat()).status == 200)
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(r.status == 429)
            #expect(r.body.contains("the router"))
        }
    }

    @Test("concurrency cap: a second request while one is in flight gets 503")
    func concurrency() async throws {
        try await withHarness(configure: { c, _ in
            c.sandboxes[0].maxConcurrent = 1
            c.upstreams[0].timeouts.responseHeaders = .seconds(10)
        }) { h in
            // Long enough that the second request surely arrives while the first still holds the slot, even when
            // the test's threads are starved by the suites running beside it.
            h.mock.addFault(MockFault(count: 1, delayBeforeHeadersMs: 4000))
            async let slow = h.request("/v1/chat/completions", body: Harness.chat())
            // The first request holds the only slot once the upstream has it.
            #expect(await eventually { h.mock.requestCount == 1 })
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(r.status == 503)
            #expect(r.body.contains("sandbox_busy"))
            #expect(try await slow.status == 200)
            #expect(try await h.request("/v1/chat/completions", body: Harness.chat()).status == 200)
        }
    }

    @Test("an agent that sends its next request the moment it has an answer is never refused for the slot of the last")
    func backToBack() async throws {
        try await withHarness(configure: { c, _ in
            c.sandboxes[0].maxConcurrent = 1
            // A budget: settling the reservation and the completion receipt both come after the upstream's end.
            c.tenants[0].tokensPerDay = 100_000_000
        }) { h in
            // A new connection each time, as an SDK without a pool (or with `connection: close`) makes them.
            let port = h.routerPort
            let refused: [String] = try await offPool {
                var refused: [String] = []
                for i in 0..<30 {
                    let body = Harness.chat(stream: i % 2 == 0)
                    let socket = try RawSocket(port: port, timeoutSeconds: 10)
                    socket.send(
                        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
                    )
                    let text = socket.readAll().text
                    if !text.hasPrefix("HTTP/1.1 200") { refused.append("request \(i): \(text.prefix(300))") }
                }
                return refused
            }
            #expect(refused.isEmpty, "\(refused)")
        }
    }

    /// The worst case of `Harness.chat()`, with the output limit the router inserts.
    static let chatWorstCase = BudgetReservationTests.worstCase(Harness.chat(), output: SandboxBudget.defaultOutput)

    @Test("tenant budget: counted from usage (streaming included), 429 budget_exceeded once the worst case no longer fits")
    func budget() async throws {
        try await withHarness(configure: { c, _ in c.tenants[0].tokensPerDay = Self.chatWorstCase + 19 }) { h in
            #expect(try await h.request("/v1/chat/completions", body: Harness.chat(stream: true)).status == 200)  // 10 tokens
            #expect(try await h.request("/v1/chat/completions", body: Harness.chat()).status == 200)  // 20 tokens
            #expect(h.mock.recordedRequests()[1].body.contains("\"max_completion_tokens\":\(SandboxBudget.defaultOutput)"))
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(r.status == 429)
            #expect(r.body.contains("\"code\":\"budget_exceeded\""))
            #expect(r.body.contains("insufficient_quota"))
            #expect(h.mock.requestCount == 2)
        }
    }

    @Test("budgets persist across a router restart on the same state directory")
    func budgetRestart() async throws {
        let directory = TempDirectory.make()
        // Room for the worst case after 20 tokens but not after 30: the 20 must survive the restart.
        let configure: (inout AirlockConfig, String) throws -> Void = { c, _ in c.tenants[0].tokensPerDay = Self.chatWorstCase + 29 }
        let first = try await Harness.start(directory: directory, configure: configure)
        for _ in 0..<2 {
            #expect(try await first.request("/v1/chat/completions", body: Harness.chat()).status == 200)
        }
        await first.stop()
        let second = try await Harness.start(directory: directory, configure: configure)
        #expect(try await second.request("/v1/chat/completions", body: Harness.chat()).status == 200)
        let r = try await second.request("/v1/chat/completions", body: Harness.chat())
        #expect(r.status == 429)
        await second.stop()
    }
}
