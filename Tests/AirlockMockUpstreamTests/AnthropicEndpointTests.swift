import AirlockMockUpstream
import Foundation
import Testing

@Suite("Anthropic and Azure endpoints")
struct AnthropicEndpointTests {
    let messageBody =
        #"{"model":"claude-test","max_tokens":1024,"system":"be terse","messages":[{"role":"user","content":"tell me a joke"}]}"#

    @Test func messagesNonStreaming() async throws {
        try await withMockServer { server in
            let response = try TestConnection(port: server.port).exchange(
                "POST", "/v1/messages", headers: anthropicHeaders, body: messageBody)
            #expect(response.status == 200)
            let json = try response.json()
            #expect(json["type"] as? String == "message")
            #expect(json["role"] as? String == "assistant")
            #expect(json["model"] as? String == "claude-test")
            #expect(json["stop_reason"] as? String == "end_turn")
            let block = try #require((json["content"] as? [[String: Any]])?.first)
            #expect(block["type"] as? String == "text")
            #expect(block["text"] as? String == "Hello from the Airlock mock upstream.")
            let usage = try #require(json["usage"] as? [String: Any])
            #expect(usage["input_tokens"] as? Int == 6)
            #expect(usage["output_tokens"] as? Int == 6)
        }
    }

    @Test func messagesStreaming() async throws {
        try await withMockServer { server in
            let body =
                #"{"model":"claude-test","max_tokens":3,"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"a b"}]}]}"#
            let response = try TestConnection(port: server.port).exchange(
                "POST", "/v1/messages", headers: anthropicHeaders, body: body)
            #expect(response.status == 200)
            let events = SSEEvent.parse(response.body)
            let names = events.map { $0.name ?? "" }
            #expect(
                names == [
                    "message_start", "content_block_start", "content_block_delta", "content_block_delta",
                    "content_block_delta", "content_block_stop", "message_delta", "message_stop",
                ])
            let start = try events[0].json()
            #expect(((start["message"] as? [String: Any])?["usage"] as? [String: Any])?["input_tokens"] as? Int == 2)
            let texts = try events.filter { $0.name == "content_block_delta" }.map {
                let delta = try $0.json()["delta"] as? [String: Any]
                #expect(delta?["type"] as? String == "text_delta")
                return delta?["text"] as? String ?? ""
            }
            #expect(texts == ["Hello", " from", " the"])
            let messageDelta = try events[6].json()
            #expect((messageDelta["usage"] as? [String: Any])?["output_tokens"] as? Int == 3)
            #expect((messageDelta["delta"] as? [String: Any])?["stop_reason"] as? String == "max_tokens")
        }
    }

    @Test func messagesRequireAnthropicVersion() async throws {
        try await withMockServer { server in
            let response = try TestConnection(port: server.port).exchange("POST", "/v1/messages", body: messageBody)
            #expect(response.status == 400)
            let json = try response.json()
            #expect(json["type"] as? String == "error")
            #expect((json["error"] as? [String: Any])?["type"] as? String == "invalid_request_error")
        }
    }

    @Test func azureChatAndEmbeddings() async throws {
        try await withMockServer { server in
            let connection = try TestConnection(port: server.port)
            let chat = try connection.exchange(
                "POST", "/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21",
                body:
                    #"{"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}"#
            )
            #expect(chat.status == 200)
            let events = SSEEvent.parse(chat.body)
            #expect(events.last?.data == "[DONE]")
            #expect(try events[0].json()["model"] as? String == "my-gpt")
            let usage = try #require(events.dropLast().last).json()["usage"] as? [String: Any]
            #expect(usage?["completion_tokens"] as? Int == 6)

            let embeddings = try connection.exchange(
                "POST", "/openai/deployments/my-embed/embeddings?api-version=2024-10-21", body: #"{"input":"x y"}"#
            )
            #expect(embeddings.status == 200)
            #expect((try embeddings.json()["usage"] as? [String: Any])?["prompt_tokens"] as? Int == 2)
        }
    }

    @Test func azureRequiresApiVersion() async throws {
        try await withMockServer { server in
            let response = try TestConnection(port: server.port).exchange(
                "POST", "/openai/deployments/my-gpt/chat/completions", body: #"{"messages":[]}"#
            )
            #expect(response.status == 400)
            #expect((try response.json()["error"] as? [String: Any])?["param"] as? String == "api-version")
        }
    }
}
