import AirlockMockUpstream
import Foundation
import AirlockPolicy
import AirlockReceipts
import AirlockTestSupport
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import AirlockRouter

/// Each route through a real router to the real mock, streaming and not.
@Suite("Routes end to end", .timeLimit(.minutes(1)))
struct RoutesTests {
    @Test("chat completions: aliased model, usage, request id and traceparent echoed")
    func chat() async throws {
        try await withHarness { h in
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(r.status == 200)
            #expect(r.body.contains("\"model\":\"gpt-upstream\""))
            #expect(r.body.contains("\"prompt_tokens\":4"))
            #expect(r.headers.first(name: "x-request-id")?.count == 32)
            #expect(r.headers.first(name: "traceparent")?.hasPrefix("00-") == true)
            let seen = h.mock.recordedRequests()
            #expect(seen.count == 1)
            #expect(seen[0].body.contains("\"model\":\"gpt-upstream\""))
        }
    }

    @Test("a complete response keeps the upstream's Content-Length (no chunked framing the provider did not use)")
    func contentLengthKept() async throws {
        try await withHarness { h in
            let body = Harness.chat()
            let socket = try RawSocket(port: h.routerPort)
            socket.send("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\nconnection: close\r\n\r\n\(body)")
            let (text, _) = try await offPool { socket.readAll() }
            let parts = text.components(separatedBy: "\r\n\r\n")
            let head = parts[0].lowercased()
            #expect(head.hasPrefix("http/1.1 200"))
            #expect(!head.contains("transfer-encoding"), "\(head)")
            let declared = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) }
            let received = parts.dropFirst().joined(separator: "\r\n\r\n")
            #expect(declared == received.utf8.count, "\(head)")
            #expect(received.contains("\"model\":\"gpt-upstream\""))
        }
    }

    @Test(
        "chat completions stream: the agent gets the provider's bytes for its own request; the usage the router asked for is read, not relayed",
        arguments: ["", #","stream_options":{"include_usage":false}"#, #","stream_options":{}"#]
    )
    func chatStream(options: String) async throws {
        try await withHarness(configure: { c, _ in c.tenants[0].tokensPerDay = 1_000_000 }) { h in
            let r = try await h.request("/v1/chat/completions", body: Harness.chat(stream: true, extra: options))
            #expect(r.status == 200)
            #expect(r.headers.first(name: "content-type")?.hasPrefix("text/event-stream") == true)
            let events = r.body.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: ") }
            #expect(events.count == 8)  // 6 words, the finish chunk, [DONE]: no usage chunk
            #expect(events.last == "data: [DONE]")
            // Every chunk has a choice, as `chunk.choices[0]` in agent code expects, and no usage member.
            for event in events.dropLast() {
                #expect(event.contains("\"choices\":[{"), "\(event)")
                #expect(!event.contains("\"usage\""), "\(event)")
            }
            #expect(h.mock.recordedRequests()[0].body.contains("\"include_usage\":true"))
            let remaining = await h.router.runtimeForTesting.budgets.remaining(tenant: Harness.tenant, now: WallClock.nanoseconds() / 1_000_000_000)
            #expect(remaining.day == 999_990)  // still charged from the chunk the agent did not see
        }
    }

    @Test("chat completions stream with include_usage asked by the agent: the usage chunk and the null usage members pass")
    func chatStreamWithUsage() async throws {
        try await withHarness { h in
            let r = try await h.request("/v1/chat/completions", body: Harness.chat(stream: true, extra: #","stream_options":{"include_usage":true}"#))
            let events = r.body.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: ") }
            #expect(events.count == 9)  // 6 words, the finish chunk, the usage chunk, [DONE]
            #expect(events.last == "data: [DONE]")
            #expect(events[0].contains("\"usage\":null"))
            #expect(r.body.contains("\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":6"))
        }
    }

    @Test("a field twice in stream_options is refused: the router and the upstream could read different ones")
    func duplicateStreamOption() async throws {
        try await withHarness { h in
            // The second name differs only by an unpaired surrogate escape, which the upstream may read as another
            // name: it is refused as invalid JSON before any name is compared.
            for (options, code) in [(#"{"include_usage":true,"include_usage":false}"#, "duplicate_field"),
                                    (#"{"include_usage":true,"include_usage\ud800":false}"#, "invalid_json")] {
                let r = try await h.request("/v1/chat/completions", body: Harness.chat(stream: true, extra: ",\"stream_options\":" + options))
                #expect(r.status == 400)
                #expect(r.body.contains(code), "\(r.body)")
            }
            #expect(h.mock.requestCount == 0)
        }
    }

    @Test("responses, streaming and not")
    func responses() async throws {
        try await withHarness { h in
            let plain = try await h.request("/v1/responses", body: #"{"model":"gpt-test","input":"a b c"}"#)
            #expect(plain.status == 200)
            #expect(plain.body.contains("\"object\":\"response\""))
            let stream = try await h.request("/v1/responses", body: #"{"model":"gpt-test","input":"a b c","stream":true}"#)
            #expect(stream.status == 200)
            #expect(stream.body.contains("event: response.completed"))
        }
    }

    @Test("embeddings")
    func embeddings() async throws {
        try await withHarness { h in
            let r = try await h.request("/v1/embeddings", body: #"{"model":"embed-test","input":["x","y z"]}"#)
            #expect(r.status == 200)
            #expect(r.body.contains("\"embedding\""))
            #expect(h.mock.recordedRequests()[0].body.contains("\"model\":\"embed-test\""))
        }
    }

    @Test("Anthropic messages, streaming and not, with x-api-key and anthropic-version injected")
    func messages() async throws {
        try await withHarness { h in
            let plain = try await h.request("/v1/messages", body: Harness.anthropicMessage())
            #expect(plain.status == 200)
            #expect(plain.body.contains("\"type\":\"message\""))
            let stream = try await h.request("/v1/messages", body: Harness.anthropicMessage(stream: true))
            #expect(stream.status == 200)
            for event in ["message_start", "content_block_delta", "message_delta", "message_stop"] {
                #expect(stream.body.contains("event: \(event)"))
            }
            let seen = h.mock.recordedRequests()
            #expect(seen.allSatisfy { $0.header("x-api-key") == h.key && $0.header("anthropic-version") == "2023-06-01" })
        }
    }

    @Test("models lists what the sandbox may call through the asking SDK's API, in that API's shape, and is receipted")
    func models() async throws {
        let sink = ResilienceTests.RecordingSink()
        try await withHarness(receipts: sink, configure: { c, _ in c.sandboxes[0].models = ["gpt-test", "claude-test"] }) { h in
            let openai = try await h.request(.GET, "/v1/models", headers: [])
            #expect(openai.status == 200)
            // claude-test is served through the Anthropic API: an OpenAI SDK could not call it (wrong_api).
            #expect(openai.body == #"{"object":"list","data":[{"id":"gpt-test","object":"model","created":0,"owned_by":"airlock"}]}"#)
            let anthropic = try await h.request(.GET, "/v1/models", headers: [("anthropic-version", "2023-06-01")])
            #expect(anthropic.body.contains("\"has_more\":false"))
            #expect(anthropic.body.contains("\"id\":\"claude-test\""))
            #expect(!anthropic.body.contains("gpt-test"))
            #expect(h.mock.recordedRequests().isEmpty)
            let served = sink.records.withLock { $0.filter { $0.route == "models" } }
            #expect(served.count == 2 && served.allSatisfy { $0.decision == "allow" && $0.status == 200 })
        }
    }

    @Test("GET /v1/models/{id} answers within the sandbox's allowlist and the asking API; anything else is 404 in its shape")
    func modelByID() async throws {
        try await withHarness(configure: { c, _ in c.sandboxes[0].models = ["gpt-test", "claude-test"] }) { h in
            let gpt = try await h.request(.GET, "/v1/models/gpt-test", headers: [])
            #expect(gpt.status == 200)
            #expect(gpt.body == #"{"id":"gpt-test","object":"model","created":0,"owned_by":"airlock"}"#)
            let claude = try await h.request(.GET, "/v1/models/claude-test", headers: [("anthropic-version", "2023-06-01")])
            #expect(claude.status == 200)
            #expect(claude.body.hasPrefix(#"{"type":"model","id":"claude-test""#))
            let wrongAPI = try await h.request(.GET, "/v1/models/claude-test", headers: [])
            #expect(wrongAPI.status == 404)
            #expect(wrongAPI.body.contains("model_not_found"))
            let notAllowed = try await h.request(.GET, "/v1/models/embed-test", headers: [("anthropic-version", "2023-06-01")])
            #expect(notAllowed.status == 404)
            #expect(notAllowed.body.hasPrefix("{\"type\":\"error\""))
            #expect(h.mock.recordedRequests().isEmpty)
        }
    }

    @Test("POST /v1/messages/count_tokens is forwarded for allowed Anthropic models, with the router's key, and charges nothing")
    func countTokens() async throws {
        try await withHarness(configure: { c, _ in c.tenants[0].tokensPerDay = 1_000_000 }) { h in
            let headers = [("content-type", "application/json"), ("anthropic-version", "2023-06-01")]
            let body = #"{"model":"claude-test","messages":[{"role":"user","content":"one two three"}]}"#
            let r = try await h.request("/v1/messages/count_tokens", body: body, headers: headers)
            #expect(r.status == 200, "\(r.body)")
            #expect(r.body == #"{"input_tokens":3}"#)
            let seen = h.mock.recordedRequests()
            #expect(seen.count == 1 && seen[0].path == "/v1/messages/count_tokens" && seen[0].header("x-api-key") == h.key)
            // No max_tokens is added: the endpoint takes none.
            #expect(seen.first.map { !$0.body.contains("max_tokens") } == true)
            let forbidden = try await h.request("/v1/messages/count_tokens", body: #"{"model":"gpt-test","messages":[{"role":"user","content":"x"}]}"#, headers: headers)
            #expect(forbidden.status == 400)
            #expect(forbidden.body.contains("served through the openai API"))
            let remaining = await h.router.runtimeForTesting.budgets.remaining(tenant: Harness.tenant, now: WallClock.nanoseconds() / 1_000_000_000)
            #expect(remaining.day == 1_000_000)
        }
    }

    @Test("unknown paths and methods get 404 in the family's shape and never reach upstream")
    func unknown() async throws {
        try await withHarness { h in
            let r = try await h.request("/v1/completions", body: "{}")
            #expect(r.status == 404)
            #expect(r.body.contains("\"code\":\"unknown_route\""))
            let a = try await h.request(.GET, "/v1/messages")
            #expect(a.status == 404)
            #expect(a.body.hasPrefix("{\"type\":\"error\""))
            #expect(h.mock.recordedRequests().isEmpty)
        }
    }

    @Test("W3C traceparent: the agent's trace id continues upstream with the router's span")
    func traceparent() async throws {
        try await withHarness { h in
            let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let r = try await h.request(
                "/v1/chat/completions",
                body: Harness.chat(),
                headers: [("content-type", "application/json"), ("traceparent", incoming), ("x-request-id", "agent-req-1")]
            )
            #expect(r.headers.first(name: "x-request-id") == "agent-req-1")
            let echoed = try #require(r.headers.first(name: "traceparent"))
            #expect(echoed.hasPrefix("00-4bf92f3577b34da6a3ce929d0e0e4736-"))
            #expect(!echoed.contains("00f067aa0ba902b7"))
            #expect(h.mock.recordedRequests()[0].header("traceparent") == echoed)
            #expect(h.mock.recordedRequests()[0].header("x-request-id") == "agent-req-1")
        }
    }
}
