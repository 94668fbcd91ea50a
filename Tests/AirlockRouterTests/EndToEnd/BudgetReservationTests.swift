#if canImport(Glibc)
import Glibc
#endif
import AirlockMockUpstream
import AirlockPolicy
import AirlockTestSupport
import NIOCore
import NIOHTTP1
import Testing

@testable import AirlockRouter

/// Budgets as an agent attacks them (issue 12): concurrency, cut streams, retries, missing usage. Each request
/// reserves its worst case before it goes upstream and is settled to the provider's usage, or charged the
/// reservation when that usage is unknown.
@Suite("Budget reservations end to end", .timeLimit(.minutes(1)))
struct BudgetReservationTests {
    /// The reservation of a text request: its body's bytes bound the prompt, plus the fixed allowance for what
    /// providers add around it, plus its output cap for every choice.
    static func worstCase(_ body: String, output: Int, choices: Int = 1) -> Int {
        body.utf8.count + 1_024 + output * choices
    }

    static let chat = Harness.chat(extra: #","max_completion_tokens":50"#)

    func spent(_ h: Harness, budget: Int) async -> Int {
        await budget - (h.router.runtimeForTesting.budgets.remaining(tenant: Harness.tenant, now: WallClock.nanoseconds() / 1_000_000_000).day ?? 0)
    }

    @Test("eight concurrent requests against room for three: the rest get 429 budget_exceeded, nothing overshoots")
    func concurrent() async throws {
        let w = Self.worstCase(Self.chat, output: 50)
        // The upstream reports almost the whole worst case, and slowly, so every request is in flight at once.
        let usage = #"{"prompt_tokens":\#(w - 60),"completion_tokens":50,"total_tokens":\#(w - 10)}"#
        let upstream = ScriptedUpstream { _ in
            usleep(400_000)
            return ScriptedUpstream.chatAnswer(usage: usage)
        }
        defer { upstream.stop() }
        let budget = 3 * w
        try await withHarness(configure: { c, _ in
            c.upstreams[0].baseURL = "http://127.0.0.1:\(upstream.port)"
            c.tenants[0].tokensPerDay = budget
        }) { h in
            let responses = try await withThrowingTaskGroup(of: Harness.Response.self) { group in
                for _ in 0..<8 { group.addTask { try await h.request("/v1/chat/completions", body: Self.chat) } }
                var all: [Harness.Response] = []
                for try await r in group { all.append(r) }
                return all
            }
            let served = responses.filter { $0.status == 200 }.count
            #expect(served >= 1)
            #expect(served * (w - 10) <= budget, "\(served) answers of \(w - 10) tokens against a budget of \(budget)")
            #expect(upstream.requests == served)
            for r in responses where r.status != 200 {
                #expect(r.status == 429)
                #expect(r.body.contains("\"code\":\"budget_exceeded\""))
                #expect(r.headers.first(name: "retry-after") != nil)
            }
            #expect(await spent(h, budget: budget) == served * (w - 10))
        }
    }

    @Test("a stream the agent cuts after its first chunks is charged the reservation", arguments: [false, true])
    func cutStream(anthropic: Bool) async throws {
        let body = anthropic ? Harness.anthropicMessage(stream: true) : Harness.chat(stream: true, extra: #","max_completion_tokens":50"#)
        let path = anthropic ? "/v1/messages" : "/v1/chat/completions"
        let w = Self.worstCase(body, output: anthropic ? 64 : 50)
        let budget = 1_000_000
        try await withHarness(
            mockConfiguration: MockUpstreamConfiguration(chunkDelay: .milliseconds(300)),
            configure: { c, _ in c.tenants[0].tokensPerDay = budget }
        ) { h in
            let port = h.routerPort
            let first = try await offPool {
                let socket = try RawSocket(port: port, timeoutSeconds: 10)
                socket.send(
                    "POST \(path) HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nanthropic-version: 2023-06-01\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
                )
                return socket.readUntil("data:")
            }
            #expect(first.hasPrefix("HTTP/1.1 200"))
            #expect(await eventually { await spent(h, budget: budget) == w })
            #expect(await spent(h, budget: budget) == w)
        }
    }

    /// Two attempts hang past the head timeout (each reached the provider, which may have generated), a third
    /// would be answered. Returns the agent's response, the upstream requests and the tokens charged.
    func hangTwice(budget: Int) async throws -> (Harness.Response, Int, Int) {
        var result: (Harness.Response, Int, Int)?
        try await withHarness(configure: { c, _ in
            // Long enough that the third, answered attempt is never cut on a loaded machine.
            c.upstreams[0].timeouts.responseHeaders = .seconds(3)
            c.tenants[0].tokensPerDay = budget
        }) { h in
            h.mock.addFault(MockFault(count: 2, hang: true))
            let r = try await h.request("/v1/chat/completions", body: Self.chat)
            result = (r, h.mock.requestCount, await spent(h, budget: budget))
        }
        return try #require(result)
    }

    @Test("attempts that timed out after reaching the provider are each charged the reservation")
    func retriedAfterHeadTimeout() async throws {
        let w = Self.worstCase(Self.chat, output: 50)
        let (r, requests, spent) = try await hangTwice(budget: 1_000_000)
        #expect(r.status == 200)
        #expect(requests == 3)
        // Two generations the router never saw the usage of, and the third's reported 4 + 6.
        #expect(spent == 2 * w + 10)
    }

    @Test("a retry that would not fit the budget is not made: 429 budget_exceeded, nothing beyond the budget")
    func retryBeyondBudget() async throws {
        let w = Self.worstCase(Self.chat, output: 50)
        let (r, requests, spent) = try await hangTwice(budget: 2 * w + 5)
        #expect(r.status == 429)
        #expect(r.body.contains("\"code\":\"budget_exceeded\""))
        #expect(requests == 2)
        #expect(spent == 2 * w)
    }

    static let noUsage =
        #"{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}"#

    @Test("usage missing or impossible: the reservation is charged", arguments: [
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: \(noUsage.utf8.count)\r\n\r\n\(noUsage)",
        ScriptedUpstream.chatAnswer(usage: #"{"prompt_tokens":-1,"completion_tokens":2}"#),
        ScriptedUpstream.chatAnswer(usage: #""many""#),
    ])
    func unknownUsage(answer: String) async throws {
        let upstream = ScriptedUpstream { _ in answer }
        defer { upstream.stop() }
        let w = Self.worstCase(Self.chat, output: 50)
        let budget = 1_000_000
        try await withHarness(configure: { c, _ in
            c.upstreams[0].baseURL = "http://127.0.0.1:\(upstream.port)"
            c.tenants[0].tokensPerDay = budget
        }) { h in
            _ = try? await h.request("/v1/chat/completions", body: Self.chat)
            #expect(await eventually { await spent(h, budget: budget) == w })
            #expect(await spent(h, budget: budget) == w)
        }
    }

    @Test("a 15 MiB answer, whole or streamed, is settled to the usage at its end, not charged the reservation", arguments: [false, true])
    func largeAnswer(streamed: Bool) async throws {
        let bulk = String(repeating: #"{"token":"x","logprob":-0.1,"bytes":[120]},"#, count: 15 << 20 / 44)
        let answer: String
        if streamed {
            // The Responses API's final event carries the whole response, usage last.
            let event = #"{"type":"response.completed","response":{"status":"completed","output":["# + bulk
                + #"{}],"usage":{"input_tokens":9,"output_tokens":31}}}"#
            let body = "event: response.completed\ndata: \(event)\n\n"
            answer = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
        } else {
            let body = #"{"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"logprobs":{"content":["#
                + bulk + #"{}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":31}}"#
            answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        let upstream = ScriptedUpstream { _ in answer }
        defer { upstream.stop() }
        let budget = 1_000_000
        try await withHarness(configure: { c, _ in
            c.upstreams[0].baseURL = "http://127.0.0.1:\(upstream.port)"
            c.tenants[0].tokensPerDay = budget
        }) { h in
            let r = streamed
                ? try await h.request("/v1/responses", body: #"{"model":"gpt-test","input":"x","stream":true,"max_output_tokens":50}"#)
                : try await h.request("/v1/chat/completions", body: Self.chat)
            #expect(r.status == 200)
            #expect(r.body.utf8.count > 14 << 20)
            #expect(await eventually { await spent(h, budget: budget) != 0 })
            #expect(await spent(h, budget: budget) == 40)
        }
    }

    /// Serves `body` under a day budget of `budget`; returns the status.
    func serve(_ body: String, budget: Int, configure: @escaping (inout AirlockConfig) -> Void = { _ in }) async throws -> (Int, String, Int) {
        var result = (0, "", 0)
        try await withHarness(configure: { c, _ in
            c.tenants[0].tokensPerDay = budget
            configure(&c)
        }) { h in
            let r = try await h.request("/v1/chat/completions", body: body)
            result = (r.status, r.body, h.mock.requestCount)
        }
        return result
    }

    static let imageByURL =
        #"{"model":"gpt-test","max_completion_tokens":50,"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}"#

    @Test("an image by URL under a budget: refused without budget.unbounded_input_allowance, reserved with it")
    func unboundedInput() async throws {
        let w = Self.worstCase(Self.imageByURL, output: 50)
        let (status, body, upstream) = try await serve(Self.imageByURL, budget: 1_000_000)
        #expect(status == 400)
        #expect(body.contains("\"code\":\"unbounded_input\""))
        #expect(upstream == 0)
        let allow: (inout AirlockConfig) -> Void = { $0.sandboxes[0].budget.unboundedInputAllowance = 2_000 }
        #expect(try await serve(Self.imageByURL, budget: w + 1_999, configure: allow).0 == 429)
        #expect(try await serve(Self.imageByURL, budget: w + 2_000, configure: allow).0 == 200)
    }

    @Test("n multiplies the output reservation")
    func choices() async throws {
        let body = Harness.chat(extra: #","max_completion_tokens":50,"n":3"#)
        let w = Self.worstCase(body, output: 50, choices: 3)
        let three: (inout AirlockConfig) -> Void = { $0.sandboxes[0].maxChoices = 3 }
        #expect(try await serve(body, budget: w - 1, configure: three).0 == 429)
        #expect(try await serve(body, budget: w, configure: three).0 == 200)
    }
}
