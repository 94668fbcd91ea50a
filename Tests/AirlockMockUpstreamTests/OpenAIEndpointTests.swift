import AirlockMockUpstream
import Foundation
import Testing

@Suite("OpenAI endpoints")
struct OpenAIEndpointTests {
    @Test func chatCompletionNonStreaming() async throws {
        try await withMockServer { server in
            let response = try TestConnection(port: server.port).exchange(
                "POST", "/v1/chat/completions", body: openAIChatBody)
            #expect(response.status == 200)
            #expect(response.head.header("content-type") == "application/json")
            let json = try response.json()
            #expect(json["object"] as? String == "chat.completion")
            #expect(json["model"] as? String == "gpt-test")
            #expect((json["id"] as? String)?.isEmpty == false)
            #expect(json["created"] is Int)
            let choice = try #require((json["choices"] as? [[String: Any]])?.first)
            let message = try #require(choice["message"] as? [String: Any])
            #expect(message["role"] as? String == "assistant")
            #expect(message["content"] as? String == "Hello from the Airlock mock upstream.")
            #expect(choice["finish_reason"] as? String == "stop")
            let usage = try #require(json["usage"] as? [String: Any])
            #expect(usage["prompt_tokens"] as? Int == 5)
            #expect(usage["completion_tokens"] as? Int == 6)
            #expect(usage["total_tokens"] as? Int == 11)
        }
    }

    @Test func chatCompletionTruncatedByMaxTokens() async throws {
        try await withMockServer { server in
            let body = #"{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}"#
            let json = try TestConnection(port: server.port).exchange("POST", "/v1/chat/completions", body: body).json()
            let choice = try #require((json["choices"] as? [[String: Any]])?.first)
            #expect((choice["message"] as? [String: Any])?["content"] as? String == "Hello from")
            #expect(choice["finish_reason"] as? String == "length")
            #expect((json["usage"] as? [String: Any])?["completion_tokens"] as? Int == 2)
        }
    }

    @Test(arguments: [true, false])
    func chatCompletionStreaming(includeUsage: Bool) async throws {
        try await withMockServer { server in
            let options = includeUsage ? #","stream_options":{"include_usage":true}"# : ""
            let body =
                #"{"model":"gpt-test","stream":true"# + options
                + #","messages":[{"role":"user","content":"one two three"}]}"#
            let response = try TestConnection(port: server.port).exchange("POST", "/v1/chat/completions", body: body)
            #expect(response.status == 200)
            #expect(response.head.header("content-type")?.hasPrefix("text/event-stream") == true)
            let events = SSEEvent.parse(response.body)
            #expect(events.last?.data == "[DONE]")
            let chunks = try events.dropLast().map { try $0.json() }
            #expect(
                chunks.allSatisfy {
                    $0["object"] as? String == "chat.completion.chunk" && $0["model"] as? String == "gpt-test"
                })
            let deltas = chunks.compactMap { chunk -> String? in
                let choice = (chunk["choices"] as? [[String: Any]])?.first
                return (choice?["delta"] as? [String: Any])?["content"] as? String
            }
            #expect(deltas == ["Hello", " from", " the", " Airlock", " mock", " upstream."])
            let finishIndex = try #require(
                chunks.firstIndex { chunk in
                    ((chunk["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String) == "stop"
                })
            #expect(finishIndex == 6)
            if includeUsage {
                #expect(chunks.count == 8)
                let last = try #require(chunks.last)
                #expect((last["choices"] as? [Any])?.isEmpty == true)
                let usage = try #require(last["usage"] as? [String: Any])
                #expect(usage["prompt_tokens"] as? Int == 3)
                #expect(usage["completion_tokens"] as? Int == 6)
                #expect(usage["total_tokens"] as? Int == 9)
            } else {
                #expect(chunks.count == 7)
                #expect(chunks.allSatisfy { $0["usage"] == nil })
            }
        }
    }

    @Test func responsesNonStreaming() async throws {
        try await withMockServer { server in
            let body =
                #"{"model":"gpt-resp","input":[{"role":"user","content":[{"type":"input_text","text":"alpha beta"}]}],"instructions":"be nice"}"#
            let json = try TestConnection(port: server.port).exchange("POST", "/v1/responses", body: body).json()
            #expect(json["object"] as? String == "response")
            #expect(json["status"] as? String == "completed")
            #expect(json["model"] as? String == "gpt-resp")
            let item = try #require((json["output"] as? [[String: Any]])?.first)
            #expect(item["type"] as? String == "message")
            let part = try #require((item["content"] as? [[String: Any]])?.first)
            #expect(part["type"] as? String == "output_text")
            #expect(part["text"] as? String == "Hello from the Airlock mock upstream.")
            let usage = try #require(json["usage"] as? [String: Any])
            #expect(usage["input_tokens"] as? Int == 4)
            #expect(usage["output_tokens"] as? Int == 6)
            #expect(usage["total_tokens"] as? Int == 10)
        }
    }

    @Test func responsesStreaming() async throws {
        try await withMockServer { server in
            let body = #"{"model":"gpt-resp","input":"alpha beta gamma","stream":true}"#
            let response = try TestConnection(port: server.port).exchange("POST", "/v1/responses", body: body)
            let events = SSEEvent.parse(response.body)
            let names = events.map { $0.name ?? "" }
            #expect(names.first == "response.created")
            #expect(names.last == "response.completed")
            #expect(names.filter { $0 == "response.output_text.delta" }.count == 6)
            let createdIndex = try #require(names.firstIndex(of: "response.created"))
            let firstDelta = try #require(names.firstIndex(of: "response.output_text.delta"))
            #expect(createdIndex < firstDelta)
            for event in events {
                #expect(try event.json()["type"] as? String == event.name)
            }
            let deltas = try events.filter { $0.name == "response.output_text.delta" }.map {
                try $0.json()["delta"] as? String ?? ""
            }
            #expect(deltas.joined() == "Hello from the Airlock mock upstream.")
            let completed = try #require(events.last).json()
            let usage = try #require((completed["response"] as? [String: Any])?["usage"] as? [String: Any])
            #expect(usage["input_tokens"] as? Int == 3)
            #expect(usage["output_tokens"] as? Int == 6)
            #expect(usage["total_tokens"] as? Int == 9)
        }
    }

    @Test func embeddingsAreDeterministicWithUsage() async throws {
        try await withMockServer { server in
            let connection = try TestConnection(port: server.port)
            let body = #"{"model":"text-embedding-3-small","input":["red green blue","cyan"]}"#
            let first = try connection.exchange("POST", "/v1/embeddings", body: body).json()
            let second = try connection.exchange("POST", "/v1/embeddings", body: body).json()
            let data = try #require(first["data"] as? [[String: Any]])
            #expect(data.count == 2)
            let vector = try #require(data[0]["embedding"] as? [Double])
            #expect(vector.count == 8)
            #expect(abs(vector.reduce(0) { $0 + $1 * $1 } - 1) < 0.001)
            let again = try #require((second["data"] as? [[String: Any]])?.first?["embedding"] as? [Double])
            #expect(vector == again)
            #expect(data[1]["embedding"] as? [Double] != vector)
            let usage = try #require(first["usage"] as? [String: Any])
            #expect(usage["prompt_tokens"] as? Int == 4)
            #expect(usage["total_tokens"] as? Int == 4)

            let single = try connection.exchange(
                "POST", "/v1/embeddings",
                body: #"{"model":"e","input":"red green blue","dimensions":4,"encoding_format":"base64"}"#
            ).json()
            let encoded = try #require((single["data"] as? [[String: Any]])?.first?["embedding"] as? String)
            let bytes = try #require(Data(base64Encoded: encoded))
            #expect(bytes.count == 16)
            #expect((single["usage"] as? [String: Any])?["prompt_tokens"] as? Int == 3)
        }
    }

    @Test func modelsList() async throws {
        try await withMockServer(MockUpstreamConfiguration(models: ["a-model", "b-model"])) { server in
            let json = try TestConnection(port: server.port).exchange("GET", "/v1/models").json()
            #expect(json["object"] as? String == "list")
            let ids = (json["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
            #expect(ids == ["a-model", "b-model"])
        }
    }

    @Test func keepAliveServesManyRequestsOnOneConnection() async throws {
        try await withMockServer { server in
            let connection = try TestConnection(port: server.port)
            for _ in 0..<20 {
                #expect(try connection.exchange("POST", "/v1/chat/completions", body: openAIChatBody).status == 200)
            }
            #expect(server.requestCount == 20)
        }
    }

    @Test func expectContinueGetsInterimResponse() async throws {
        try await withMockServer { server in
            let connection = try TestConnection(port: server.port)
            try connection.send(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                    + "Content-Length: \(openAIChatBody.utf8.count)\r\n\r\n"
            )
            #expect(try connection.readHead().status == 100)
            try connection.send(openAIChatBody)
            let head = try connection.readHead()
            #expect(head.status == 200)
            #expect(try connection.readBody(head).contains("chat.completion"))
        }
    }
}
