import AirlockMockUpstream
import Foundation
import Testing

@Suite("Required API key")
struct AuthTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var path: String
        var body: String
        var extraHeaders: [String: String]
        var goodHeaders: [String: String]
        var wrongHeaders: [String: String]
        var anthropicShape: Bool
        var testDescription: String { self.name }
    }

    static let cases: [Case] = [
        Case(
            name: "openai", path: "/v1/chat/completions", body: openAIChatBody, extraHeaders: [:],
            goodHeaders: ["Authorization": "Bearer sk-good"], wrongHeaders: ["Authorization": "Bearer sk-bad"],
            anthropicShape: false
        ),
        Case(
            name: "azure", path: "/openai/deployments/d/chat/completions?api-version=2024-10-21", body: openAIChatBody,
            extraHeaders: [:], goodHeaders: ["api-key": "sk-good"], wrongHeaders: ["Authorization": "Bearer sk-good"],
            anthropicShape: false
        ),
        Case(
            name: "anthropic", path: "/v1/messages",
            body: #"{"model":"c","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#,
            extraHeaders: anthropicHeaders, goodHeaders: ["x-api-key": "sk-good"],
            wrongHeaders: ["x-api-key": "sk-bad"],
            anthropicShape: true
        ),
        Case(
            name: "anthropic-bearer", path: "/v1/messages",
            body: #"{"model":"c","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#,
            extraHeaders: anthropicHeaders, goodHeaders: ["Authorization": "Bearer sk-good"],
            wrongHeaders: ["Authorization": "sk-good"], anthropicShape: true
        ),
    ]

    @Test(arguments: cases)
    func keyRequiredMissingAndWrong(_ test: Case) async throws {
        try await withMockServer(MockUpstreamConfiguration(requiredKey: "sk-good")) { server in
            let connection = try TestConnection(port: server.port)
            let good = try connection.exchange(
                "POST", test.path, headers: test.extraHeaders.merging(test.goodHeaders) { $1 }, body: test.body)
            #expect(good.status == 200)
            for headers in [test.extraHeaders, test.extraHeaders.merging(test.wrongHeaders) { $1 }] {
                let refused = try connection.exchange("POST", test.path, headers: headers, body: test.body)
                #expect(refused.status == 401)
                let json = try refused.json()
                let error = try #require(json["error"] as? [String: Any])
                if test.anthropicShape {
                    #expect(json["type"] as? String == "error")
                    #expect(error["type"] as? String == "authentication_error")
                } else {
                    #expect(error["type"] as? String == "invalid_request_error")
                    #expect(error["code"] as? String == "invalid_api_key")
                    #expect(error.keys.contains("param"))
                }
                #expect(!refused.body.contains("sk-good"))
            }
            #expect(server.recordedRequests().map(\.status) == [200, 401, 401])
        }
    }

    @Test func noKeyConfiguredAcceptsAnything() async throws {
        try await withMockServer { server in
            let response = try TestConnection(port: server.port).exchange(
                "POST", "/v1/chat/completions", body: openAIChatBody)
            #expect(response.status == 200)
        }
    }
}
