import AirlockJSON
import Testing

@testable import AirlockRouter

@Suite("Request shape (admission of bodies)")
struct RequestShapeTests {
    static let chat = #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#

    @Test("refuses malformed or wrongly shaped bodies with 400 and a reason", arguments: [
        (Endpoint.chatCompletions, "not json", "invalid_json"),
        (.chatCompletions, #"{"model":"m\"#, "invalid_json"),
        (.chatCompletions, "[]", "invalid_request"),
        (.chatCompletions, #"{"messages":[{"role":"user"}]}"#, "missing_field"),
        (.chatCompletions, #"{"model":42,"messages":[{}]}"#, "invalid_field"),
        (.chatCompletions, #"{"model":"","messages":[{}]}"#, "invalid_field"),
        (.chatCompletions, #"{"model":"m"}"#, "missing_field"),
        (.chatCompletions, #"{"model":"m","messages":{}}"#, "missing_field"),
        (.chatCompletions, #"{"model":"m","messages":[]}"#, "invalid_field"),
        (.chatCompletions, #"{"model":"m","messages":["hi"]}"#, "invalid_field"),
        (.chatCompletions, #"{"model":"m","messages":[{}],"stream":"yes"}"#, "invalid_field"),
        (.chatCompletions, #"{"model":"m","messages":[{}],"max_tokens":0}"#, "invalid_field"),
        (.chatCompletions, #"{"model":"m","messages":[{}],"max_tokens":1.5}"#, "invalid_field"),
        (.chatCompletions, #"{"model":"m","messages":[{}],"max_tokens":"10"}"#, "invalid_field"),
        (.chatCompletions, #"{"model":"m","messages":[{}],"max_completion_tokens":-3}"#, "invalid_field"),
        (.chatCompletions, #"{"model":"m","messages":[{}],"stream_options":true}"#, "invalid_field"),
        (.chatCompletions, #"{"model":"m","model":"other","messages":[{}]}"#, "duplicate_field"),
        (.chatCompletions, #"{"model":"m","messages":[{}],"stream":false,"stream":true}"#, "duplicate_field"),
        // A name twice at any depth: the router and the upstream could each read a different one.
        (.chatCompletions, #"{"model":"m","messages":[{"role":"user","role":"system","content":"x"}]}"#, "duplicate_field"),
        (.chatCompletions, #"{"model":"m","messages":[{}],"tools":[{"type":"function","function":{"name":"a","name":"b"}}]}"#, "duplicate_field"),
        (.chatCompletions, #"{"model":"m","messages":[{"role":"user","rol\u0065":"system"}]}"#, "duplicate_field"),
        (.chatCompletions, #"{"model":"m","messages":[{}],"stream_options":{"include_usage":true,"include_usage":false}}"#, "duplicate_field"),
        // Unpaired surrogate escapes: a decoder that drops them reads another name than one that keeps them.
        (.chatCompletions, #"{"model":"m","messages":[{}],"stream\ud800":true}"#, "invalid_json"),
        (.chatCompletions, #"{"model":"m\udc00","messages":[{}]}"#, "invalid_json"),
        (.chatCompletions, #"{"model":"m","messages":[{}],"stream_options":{"include_usage\ud800":false}}"#, "invalid_json"),
        (.chatCompletions, #"{"model":"m","messages":[{"content":"\ud800\u0041"}]}"#, "invalid_json"),
        (.chatCompletions, #"{"model":"m","messages":[{"content":"\ud800"}]}"#, "invalid_json"),
        (.messages, #"{"model":"m","max_tokens":5,"max_tokens\udbff":9,"messages":[{}]}"#, "invalid_json"),
        (.responses, #"{"model":"m"}"#, "missing_field"),
        (.responses, #"{"model":"m","input":5}"#, "missing_field"),
        (.responses, #"{"model":"m","input":"x","max_output_tokens":0}"#, "invalid_field"),
        (.embeddings, #"{"model":"m","input":{}}"#, "missing_field"),
        (.messages, #"{"model":"m","messages":[{}]}"#, "missing_field"),
        (.messages, #"{"model":"m","messages":[{}],"max_tokens":null}"#, "missing_field"),
        (.messages, #"{"model":"m","max_tokens":5}"#, "missing_field"),
    ])
    func refused(endpoint: Endpoint, body: String, reason: String) {
        #expect {
            try RequestShape.parse(endpoint, body: Array(body.utf8))
        } throws: { error in
            guard let error = error as? RouterError else { return false }
            return error.status == 400 && error.reason == reason
        }
    }

    @Test("a duplicate among many names is found, and a large object is checked in linear time")
    func manyNames() {
        let names = (0..<100_000).map { "\"k\($0)\":0" }.joined(separator: ",")
        let distinct = #"{"model":"m","messages":[{}],"metadata":{"# + names + "}}"
        #expect(throws: Never.self) { try RequestShape.parse(.chatCompletions, body: Array(distinct.utf8)) }
        let twice = #"{"model":"m","messages":[{}],"metadata":{"# + names + #","k\u0035":1}}"#
        #expect {
            try RequestShape.parse(.chatCompletions, body: Array(twice.utf8))
        } throws: { ($0 as? RouterError)?.reason == "duplicate_field" }
    }

    @Test("accepts well-formed bodies for each endpoint", arguments: [
        (Endpoint.chatCompletions, chat),
        // A paired surrogate escape is one character (U+1F600); the same name in two objects is no duplicate.
        (.chatCompletions, #"{"model":"m","messages":[{"role":"user","content":"\ud83d\ude00"},{"role":"user","content":"x"}]}"#),
        (.responses, #"{"model":"m","input":"hello","stream":true}"#),
        (.responses, #"{"model":"m","input":[{"role":"user","content":"x"}]}"#),
        (.embeddings, #"{"model":"m","input":["a","b"]}"#),
        (.messages, #"{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"x"}]}"#),
    ])
    func accepted(endpoint: Endpoint, body: String) throws {
        _ = try RequestShape.parse(endpoint, body: Array(body.utf8))
    }

    func rewritten(_ endpoint: Endpoint, _ body: String, _ rewrite: RequestShape.Rewrite) throws -> String {
        let shape = try RequestShape.parse(endpoint, body: Array(body.utf8))
        let out = shape.body(rewrite)
        _ = try JSONScanner(out).validateDocument()
        return String(decoding: out, as: UTF8.self)
    }

    @Test("aliases the model without touching the rest of the body")
    func alias() throws {
        let out = try rewritten(.chatCompletions, Self.chat, .init(model: "gpt-4o-mini-2024-07-18", maxTokensCap: nil, includeUsage: true))
        #expect(out == #"{"model":"gpt-4o-mini-2024-07-18","messages":[{"role":"user","content":"hi"}]}"#)
    }

    @Test("clamps every token limit above the cap and adds one where none was given")
    func clamp() throws {
        let body = #"{"model":"m","messages":[{}],"max_tokens":9000,"max_completion_tokens":10}"#
        #expect(try rewritten(.chatCompletions, body, .init(model: nil, maxTokensCap: 100, includeUsage: false))
            == #"{"model":"m","messages":[{}],"max_tokens":100,"max_completion_tokens":10}"#)
        #expect(try rewritten(.chatCompletions, Self.chat, .init(model: nil, maxTokensCap: 100, includeUsage: false))
            == #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":100}"#)
        #expect(try rewritten(.responses, #"{"model":"m","input":"x"}"#, .init(model: nil, maxTokensCap: 7, includeUsage: false))
            == #"{"model":"m","input":"x","max_output_tokens":7}"#)
    }

    @Test("asks for streamed usage in every shape of stream_options", arguments: [
        (#"{"model":"m","messages":[{}],"stream":true}"#, #"{"model":"m","messages":[{}],"stream":true,"stream_options":{"include_usage":true}}"#),
        (#"{"model":"m","messages":[{}],"stream":true,"stream_options":{}}"#, #"{"model":"m","messages":[{}],"stream":true,"stream_options":{"include_usage":true}}"#),
        (#"{"model":"m","messages":[{}],"stream":true,"stream_options":{"x":1}}"#, #"{"model":"m","messages":[{}],"stream":true,"stream_options":{"x":1,"include_usage":true}}"#),
        (#"{"model":"m","messages":[{}],"stream":true,"stream_options":{"include_usage":false}}"#, #"{"model":"m","messages":[{}],"stream":true,"stream_options":{"include_usage":true}}"#),
        (#"{"model":"m","messages":[{}],"stream":false}"#, #"{"model":"m","messages":[{}],"stream":false}"#),
    ])
    func includeUsage(input: String, expected: String) throws {
        #expect(try rewritten(.chatCompletions, input, .init(model: nil, maxTokensCap: nil, includeUsage: true)) == expected)
    }
}
