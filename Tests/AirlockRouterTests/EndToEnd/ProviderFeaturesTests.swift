import AirlockMockUpstream
import AirlockPolicy
import AirlockReceipts
import AirlockTestSupport
import Foundation
import NIOHTTP1
import Synchronization
import Testing

@testable import AirlockRouter

/// Provider-side features are an egress bypass and a budget bypass: a tool the provider runs (web search, URL
/// fetch, an MCP server, code execution) reaches hosts the sandbox's egress policy denies, on the agent's behalf;
/// `background` jobs and many choices spend tokens the router cannot see or bound. None is forwarded unless the
/// sandbox's policy names it.
@Suite("Provider-side features under policy", .timeLimit(.minutes(1)))
struct ProviderFeaturesTests {
    static let anthropic = [("content-type", "application/json"), ("anthropic-version", "2023-06-01")]

    @Test(
        "refused by default, before anything goes upstream, with a denial receipt",
        arguments: [
            ("/v1/responses", #"{"model":"gpt-test","input":"x","tools":[{"type":"mcp","server_label":"t","server_url":"https://tracker.example/mcp"}]}"#, "", 403, "provider_tool_not_allowed", "tools[0].type"),
            ("/v1/responses", #"{"model":"gpt-test","input":"x","tools":[{"type":"function","name":"f","parameters":{}},{"type":"web_search_preview"}]}"#, "", 403, "provider_tool_not_allowed", "tools[1].type"),
            ("/v1/responses", #"{"model":"gpt-test","input":"x","background":true}"#, "", 400, "background_not_allowed", "background"),
            ("/v1/chat/completions", #"{"model":"gpt-test","messages":[{"role":"user","content":"x"}],"n":3}"#, "", 400, "too_many_choices", "is 3; sandbox"),
            ("/v1/chat/completions", #"{"model":"gpt-test","messages":[{"role":"user","content":"x"}],"web_search_options":{}}"#, "", 403, "provider_tool_not_allowed", "web_search_options"),
            ("/v1/messages", #"{"model":"claude-test","max_tokens":9,"messages":[{"role":"user","content":"x"}],"mcp_servers":[{"type":"url","url":"https://tracker.example/mcp","name":"t"}]}"#, "mcp-client-2025-04-04", 403, "beta_not_allowed", "mcp-client-2025-04-04"),
            ("/v1/messages", #"{"model":"claude-test","max_tokens":9,"messages":[{"role":"user","content":"x"}],"mcp_servers":[{"type":"url","url":"https://tracker.example/mcp","name":"t"}]}"#, "", 403, "provider_tool_not_allowed", "mcp_servers"),
            ("/v1/messages", #"{"model":"claude-test","max_tokens":9,"messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_fetch_20250910","name":"web_fetch"}]}"#, "", 403, "provider_tool_not_allowed", "tools[0].type"),
            ("/v1/messages", #"{"model":"claude-test","max_tokens":9,"messages":[{"role":"user","content":"x"}]}"#, "prompt-caching-2024-07-31, code-execution-2025-05-22", 403, "beta_not_allowed", "code-execution-2025-05-22"),
        ]
    )
    func refused(path: String, body: String, beta: String, status: Int, reason: String, names: String) async throws {
        let sink = ResilienceTests.RecordingSink()
        try await withHarness(receipts: sink) { h in
            var headers = path == "/v1/messages" ? Self.anthropic : [("content-type", "application/json")]
            if !beta.isEmpty { headers.append(("anthropic-beta", beta)) }
            let r = try await h.request(path, body: body, headers: headers)
            #expect(r.status == status, "\(r.body)")
            #expect(r.body.contains(names), "\(r.body)")
            #expect(h.mock.requestCount == 0)
            let denied = sink.records.withLock { $0.filter { $0.decision == "deny" } }
            #expect(denied.map(\.reason) == [reason])
        }
    }

    @Test(
        "allowed: client-side tools, betas that keep the provider to itself, and what the policy names",
        arguments: [
            ("/v1/chat/completions", #"{"model":"gpt-test","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"n":1}"#, ""),
            ("/v1/messages", #"{"model":"claude-test","max_tokens":64,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"f","input_schema":{"type":"object"}},{"type":"bash_20250124","name":"bash"}]}"#, "prompt-caching-2024-07-31"),
            ("/v1/responses", #"{"model":"gpt-test","input":"x","tools":[{"type":"web_search_preview"}]}"#, ""),
            ("/v1/messages", #"{"model":"claude-test","max_tokens":64,"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"web_search_20250305","name":"web_search"}]}"#, ""),
            ("/v1/chat/completions", #"{"model":"gpt-test","messages":[{"role":"user","content":"x"}],"n":2}"#, ""),
        ]
    )
    func allowed(path: String, body: String, beta: String) async throws {
        try await withHarness(configure: { c, _ in
            c.sandboxes[0].providerTools = ["web_search"]
            c.sandboxes[0].maxChoices = 2
        }) { h in
            var headers = path == "/v1/messages" ? Self.anthropic : [("content-type", "application/json")]
            if !beta.isEmpty { headers.append(("anthropic-beta", beta)) }
            let r = try await h.request(path, body: body, headers: headers)
            #expect(r.status == 200, "\(r.body)")
            #expect(h.mock.recordedRequests().count == 1)
        }
    }
}
