#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy
import AirlockTestSupport
import Foundation
import NIOHTTP1
import Synchronization
import Testing

@testable import AirlockRouter

/// An upstream that is broken or hostile (an OpenAI-compatible server anyone can run, or something between the
/// router and it) must never trap the router, hang a request, or leak a slot: each answer here is bytes written
/// by hand, as no HTTP library would write them.
@Suite("Hostile upstream", .timeLimit(.minutes(2)))
struct HostileUpstreamTests {
    /// A harness whose OpenAI-compatible upstream is `upstream`, with a long head timeout so "at once" means
    /// the router decided, not that a timer ran out.
    func withScripted(
        _ upstream: ScriptedUpstream,
        configure: @escaping (inout AirlockConfig) -> Void = { _ in },
        _ body: (Harness) async throws -> Void
    ) async throws {
        defer { upstream.stop() }
        try await withHarness(configure: { c, _ in
            c.upstreams[0].baseURL = "http://127.0.0.1:\(upstream.port)"
            c.upstreams[0].timeouts.responseHeaders = .seconds(60)
            c.sandboxes[0].maxConcurrent = 1
            configure(&c)
        }) { h in
            try await body(h)
        }
    }

    /// Requests holding a slot once the router has finished with them: the slot is released just after the
    /// last byte (or the close) reaches the agent, so this waits for it, up to 10 s.
    func inFlight(_ h: Harness) async -> Int {
        let limiters = h.router.runtimeForTesting.limiters
        let deadline = ContinuousClock.now + .seconds(10)
        while limiters.inFlightTotal != 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return limiters.inFlightTotal
    }

    @Test(
        "a status line outside 200-599 (or an interim one other than 100) is a 502 at once, the connection is not reused, no slot leaks",
        arguments: [
            "HTTP/1.1 000 Nothing\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 099 Early\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
            "HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n" + ScriptedUpstream.chatAnswer(),
            "HTTP/1.1 600 Beyond\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 999 Far\r\ncontent-length: 2\r\n\r\n{}",
        ]
    )
    func statusLines(first: String) async throws {
        let upstream = ScriptedUpstream { $0 == 0 ? first : ScriptedUpstream.chatAnswer() }
        try await withScripted(upstream) { h in
            let start = ContinuousClock.now
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(r.status == 502, "\(r.body)")
            #expect(r.body.contains("upstream_protocol_error"), "\(r.body)")
            // Decided on the status line, not by the 60 s head timeout; and not asked again.
            #expect(ContinuousClock.now - start < .seconds(20))
            #expect(upstream.requests == 1)
            #expect(await inFlight(h) == 0)
            // The slot (max_concurrent 1) is free and the broken connection was not pooled.
            let next = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(next.status == 200)
            #expect(upstream.connections == 2)
            #expect(await inFlight(h) == 0)
        }
    }

    @Test("a slow-reading agent gets the whole stream: the router's own back-pressure pause is not upstream silence")
    func slowReaderIsNotSilence() async throws {
        // 16 MiB of events sent at once: more than the socket buffers between the router and the agent hold.
        let event = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + String(repeating: "x", count: 4000) + "\"}}]}\n\n"
        let events = String(repeating: event, count: (16 << 20) / event.utf8.count) + "data: [DONE]\n\n"
        let answer = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: \(events.utf8.count)\r\n\r\n" + events
        let upstream = ScriptedUpstream { _ in answer }
        try await withScripted(upstream, configure: { c in c.upstreams[0].timeouts.idle = .seconds(1) }) { h in
            let body = Harness.chat(stream: true)
            let port = h.routerPort
            let (text, closed) = try await offPool { () -> (String, Bool) in
                let socket = try RawSocket(port: port, timeoutSeconds: 30)
                socket.send(
                    "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
                )
                // The agent reads nothing for three times the upstream's idle timeout, then everything.
                Thread.sleep(forTimeInterval: 3)
                return socket.readAll()
            }
            #expect(closed)
            #expect(text.hasSuffix("data: [DONE]\n\n\r\n0\r\n\r\n"), "the stream was cut after \(text.utf8.count) bytes")
        }
    }

    @Test("an upstream error that echoes the injected key, whole or masked, reaches the agent scrubbed", arguments: [401, 403, 400])
    func errorEchoesKey(status: Int) async throws {
        let key = Mutex("")
        let upstream = ScriptedUpstream { _ in
            let secret = key.withLock { $0 }
            let masked = String(secret.prefix(8)) + String(repeating: "*", count: secret.count - 12) + String(secret.suffix(4))
            let body = #"{"error":{"message":"Incorrect API key provided: \#(masked). Also \#(secret).","type":"invalid_request_error","code":"invalid_api_key"}}"#
            return "HTTP/1.1 \(status) Error\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        try await withScripted(upstream) { h in
            key.withLock { $0 = h.key }
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(r.status == status)
            #expect(r.body.contains("Incorrect API key provided"))
            #expect(!r.body.contains(h.key))
            #expect(!r.body.contains(String(h.key.prefix(8))) && !r.body.contains(String(h.key.suffix(4))), "\(r.body)")
        }
    }

    @Test("100 Continue before the final answer is skipped; the answer passes")
    func continueIsInterim() async throws {
        let upstream = ScriptedUpstream { _ in "HTTP/1.1 100 Continue\r\n\r\n" + ScriptedUpstream.chatAnswer() }
        try await withScripted(upstream) { h in
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(r.status == 200)
            #expect(r.body.contains("chat.completion"))
        }
    }

    @Test(
        "impossible usage values never trap the router: the agent's response is cut, the tenant charged the request's reservation",
        arguments: [
            ("/v1/chat/completions", #"{"prompt_tokens":9223372036854775807,"completion_tokens":1,"total_tokens":1}"#, false),
            ("/v1/chat/completions", #"{"prompt_tokens":4611686018427387904,"completion_tokens":4611686018427387904}"#, true),
            ("/v1/messages", #"{"input_tokens":9223372036854775000,"output_tokens":1,"cache_read_input_tokens":9223372036854775000}"#, false),
        ]
    )
    func impossibleUsage(path: String, usage: String, stream: Bool) async throws {
        let anthropic = path == "/v1/messages"
        let answer: String
        if stream {
            let events = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[],\"usage\":\(usage)}\n\ndata: [DONE]\n\n"
            answer = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: \(events.utf8.count)\r\n\r\n\(events)"
        } else if anthropic {
            let body = #"{"id":"m1","type":"message","role":"assistant","content":[{"type":"text","text":"ok"}],"model":"m","stop_reason":"end_turn","usage":"# + usage + "}"
            answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
        } else {
            answer = ScriptedUpstream.chatAnswer(usage: usage)
        }
        let upstream = ScriptedUpstream { $0 == 0 ? answer : ScriptedUpstream.chatAnswer() }
        try await withScripted(upstream, configure: { c in
            c.upstreams[1].baseURL = "http://127.0.0.1:\(upstream.port)"
            c.upstreams[1].timeouts.responseHeaders = .seconds(60)
            c.tenants[0].tokensPerDay = 1_000_000_000
        }) { h in
            let body = anthropic ? Harness.anthropicMessage() : Harness.chat(stream: stream)
            let port = h.routerPort
            let text = try await offPool {
                let socket = try RawSocket(port: port, timeoutSeconds: 30)
                socket.send(
                    "POST \(path) HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nanthropic-version: 2023-06-01\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
                )
                return socket.readAll()
            }
            // The head went out before the usage could be read; the response never ends as a success.
            #expect(text.text.hasPrefix("HTTP/1.1 200"))
            #expect(text.closed)
            #expect(!text.text.hasSuffix("\r\n0\r\n\r\n"))
            let remaining = await h.router.runtimeForTesting.budgets.remaining(tenant: Harness.tenant, now: WallClock.nanoseconds() / 1_000_000_000)
            #expect(remaining.day == 1_000_000_000 - BudgetReservationTests.worstCase(body, output: anthropic ? 64 : SandboxBudget.defaultOutput))
            #expect(await inFlight(h) == 0)
            // Still alive and serving.
            let next = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(next.status == 200)
        }
    }

    @Test(
        "an event stream whose lines end in CR alone, or CRLF, is filtered and accounted as one ending in LF (the SSE line endings)",
        arguments: ["\r", "\r\n", "\n"]
    )
    func streamLineEndings(ending: String) async throws {
        let events = [
            #"data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hello"}}],"usage":null}"#,
            #"data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}"#,
            "data: [DONE]",
        ].map { $0 + ending + ending }.joined()
        let answer = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: \(events.utf8.count)\r\n\r\n\(events)"
        let upstream = ScriptedUpstream { _ in answer }
        try await withScripted(upstream, configure: { c in c.tenants[0].tokensPerDay = 1_000_000 }) { h in
            // The agent did not ask for usage: the router did, and takes out what the provider added for it.
            let r = try await h.request("/v1/chat/completions", body: Harness.chat(stream: true))
            #expect(r.status == 200)
            #expect(r.body.contains("hello"), "\(r.body.debugDescription)")
            #expect(r.body.contains("[DONE]"), "\(r.body.debugDescription)")
            #expect(!r.body.contains("usage"), "the usage the router asked for reached the agent: \(r.body.debugDescription)")
            let remaining = await h.router.runtimeForTesting.budgets.remaining(
                tenant: Harness.tenant, now: WallClock.nanoseconds() / 1_000_000_000)
            #expect(remaining.day == 1_000_000 - 10, "charged \(1_000_000 - (remaining.day ?? 0)), not the 10 tokens of the usage")
            #expect(await inFlight(h) == 0)
        }
    }
}
