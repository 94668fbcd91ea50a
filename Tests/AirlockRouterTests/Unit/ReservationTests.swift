import Testing

@testable import AirlockRouter

@Suite("Budget reservations")
struct ReservationTests {
    func shape(_ endpoint: Endpoint, _ body: String) throws -> RequestShape {
        try RequestShape.parse(endpoint, body: Array(body.utf8))
    }

    @Test("prompt content a body names but does not hold is counted; inline content is not", arguments: [
        (Endpoint.chatCompletions, #"{"model":"m","messages":[{"role":"user","content":"see https://example.com/a.png"}]}"#, 0),
        (.chatCompletions, #"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}"#, 0),
        (.chatCompletions, #"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/a.png"}}]}]}"#, 1),
        (.chatCompletions, #"{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]}"#, 1),
        (.chatCompletions, #"{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"\u0066ile_id":"file-1"}}]}]}"#, 1),
        (.chatCompletions, #"{"model":"m","tools":[{"type":"function","function":{"name":"f","parameters":{"properties":{"url":{"type":"string"}}}}}],"messages":[{"role":"user","content":"x"}]}"#, 0),
        (.responses, #"{"model":"m","input":"x","previous_response_id":"resp_1"}"#, 1),
        (.responses, #"{"model":"m","input":"x","previous_response_id":null}"#, 0),
        (.responses, #"{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"https://x/a.png"},{"type":"input_file","file_url":"https://x/b.pdf"}]}],"prompt":{"id":"pmpt_1"}}"#, 3),
        (.messages, #"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://x/a.png"}}]}]}"#, 1),
        (.messages, #"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"file","file_id":"file_1"}}]}]}"#, 1),
        (.messages, #"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a \"url\": \"https://x\""}]}"#, 0),
    ])
    func unbounded(endpoint: Endpoint, body: String, count: Int) throws {
        #expect(UnboundedInputs(try shape(endpoint, body)).count == count)
    }

    @Test("the output cap: the body's limit lowered to the sandbox cap, else the cap, else the inserted default")
    func outputCap() throws {
        let asked = try shape(.chatCompletions, #"{"model":"m","max_tokens":10,"max_completion_tokens":30,"messages":[{"role":"user","content":"x"}]}"#)
        var rewrite = RequestShape.Rewrite(model: nil, maxTokensCap: nil, includeUsage: true)
        #expect(BudgetHold.outputCap(asked, rewrite: &rewrite, defaultOutput: 99) == 30)
        rewrite.maxTokensCap = 20
        #expect(BudgetHold.outputCap(asked, rewrite: &rewrite, defaultOutput: 99) == 20)
        let none = try shape(.responses, #"{"model":"m","input":"x"}"#)
        #expect(BudgetHold.outputCap(none, rewrite: &rewrite, defaultOutput: 99) == 20)
        rewrite.maxTokensCap = nil
        #expect(BudgetHold.outputCap(none, rewrite: &rewrite, defaultOutput: 99) == 99)
        #expect(rewrite.maxTokensCap == 99)
        #expect(String(decoding: none.body(rewrite), as: UTF8.self).contains(#""max_output_tokens":99"#))
        let embeddings = try shape(.embeddings, #"{"model":"m","input":"x"}"#)
        #expect(BudgetHold.outputCap(embeddings, rewrite: &rewrite, defaultOutput: 99) == 0)
    }

    @Test("the worst case saturates instead of trapping")
    func worstCase() {
        #expect(BudgetHold.worstCase(bodyBytes: 100, unbounded: 2, allowance: 500, outputCap: 50, choices: 3) == 100 + 1_024 + 1_000 + 150)
        #expect(BudgetHold.worstCase(bodyBytes: 100, unbounded: .max, allowance: 2, outputCap: 50, choices: 3) == .max)
    }
}
