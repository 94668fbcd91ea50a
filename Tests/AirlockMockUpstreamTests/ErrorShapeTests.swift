import AirlockMockUpstream
import Foundation
import Testing

@Suite("Errors in provider shapes")
struct ErrorShapeTests {
    @Test func unknownPathIs404() async throws {
        try await withMockServer { server in
            let connection = try TestConnection(port: server.port)
            let openAI = try connection.exchange("POST", "/v1/nope", body: "{}")
            #expect(openAI.status == 404)
            #expect((try openAI.json()["error"] as? [String: Any])?["message"] is String)
            let anthropic = try connection.exchange("POST", "/v1/nope", headers: anthropicHeaders, body: "{}")
            #expect(anthropic.status == 404)
            #expect(try anthropic.json()["type"] as? String == "error")
            #expect((try anthropic.json()["error"] as? [String: Any])?["type"] as? String == "not_found_error")
        }
    }

    @Test(arguments: ["{not json", "[1,2]", ""])
    func malformedJSONIs400(_ body: String) async throws {
        try await withMockServer { server in
            let connection = try TestConnection(port: server.port)
            let openAI = try connection.exchange("POST", "/v1/chat/completions", body: body)
            #expect(openAI.status == 400)
            #expect((try openAI.json()["error"] as? [String: Any])?["type"] as? String == "invalid_request_error")
            let anthropic = try connection.exchange("POST", "/v1/messages", headers: anthropicHeaders, body: body)
            #expect(anthropic.status == 400)
            #expect((try anthropic.json()["error"] as? [String: Any])?["type"] as? String == "invalid_request_error")
        }
    }

    @Test func missingRequiredFieldsAre400WithParam() async throws {
        try await withMockServer { server in
            let connection = try TestConnection(port: server.port)
            let noMessages = try connection.exchange("POST", "/v1/chat/completions", body: #"{"model":"m"}"#)
            #expect(noMessages.status == 400)
            #expect((try noMessages.json()["error"] as? [String: Any])?["param"] as? String == "messages")
            let noModel = try connection.exchange("POST", "/v1/chat/completions", body: #"{"messages":[]}"#)
            #expect((try noModel.json()["error"] as? [String: Any])?["param"] as? String == "model")
            let noMaxTokens = try connection.exchange(
                "POST", "/v1/messages", headers: anthropicHeaders, body: #"{"model":"c","messages":[]}"#
            )
            #expect(noMaxTokens.status == 400)
        }
    }

    @Test func oversizedBodyIs413() async throws {
        try await withMockServer(MockUpstreamConfiguration(maxBodyBytes: 64)) { server in
            let body =
                #"{"model":"m","messages":[{"role":"user","content":""# + String(repeating: "x", count: 200) + #""}]}"#
            let response = try TestConnection(port: server.port).exchange("POST", "/v1/chat/completions", body: body)
            #expect(response.status == 413)
        }
    }
}
