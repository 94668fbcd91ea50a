/// `POST /v1/messages`: `message` bodies and the `message_start` … `message_stop` event stream.
enum AnthropicMessages {
    static func body(_ completion: Completion) -> String {
        message(
            completion, content: "[{\"type\":\"text\",\"text\":" + JSONText.quoted(completion.text) + "}]",
            stopReason: stopReason(completion), outputTokens: completion.completionTokens)
    }

    static func stopReason(_ completion: Completion) -> String {
        completion.truncated ? "\"max_tokens\"" : "\"end_turn\""
    }

    static func message(_ completion: Completion, content: String, stopReason: String, outputTokens: Int) -> String {
        "{\"id\":\"msg_mock\(completion.requestID)\",\"type\":\"message\",\"role\":\"assistant\","
            + "\"model\":\(completion.quotedModel),\"content\":" + content + ",\"stop_reason\":" + stopReason
            + ",\"stop_sequence\":null,\"usage\":{\"input_tokens\":\(completion.promptTokens),"
            + "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":\(outputTokens)}}"
    }

    /// `message_start` (input tokens), `content_block_start`, one `content_block_delta` per word,
    /// `content_block_stop`, `message_delta` (stop reason, output tokens), `message_stop`.
    struct Stream: SSEEventSource {
        let completion: Completion
        private var index = 0

        init(_ completion: Completion) {
            self.completion = completion
        }

        mutating func next() -> String? {
            defer { self.index += 1 }
            let c = self.completion
            let words = c.completionTokens
            switch self.index {
            case 0:
                let message = AnthropicMessages.message(c, content: "[]", stopReason: "null", outputTokens: 0)
                return SSE.event("message_start", "{\"type\":\"message_start\",\"message\":" + message + "}")
            case 1:
                return SSE.event(
                    "content_block_start",
                    "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"
                )
            case 2..<(2 + words):
                let text = JSONText.quoted(c.reply.delta(self.index - 2))
                return SSE.event(
                    "content_block_delta",
                    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":" + text
                        + "}}")
            case 2 + words:
                return SSE.event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}")
            case 3 + words:
                return SSE.event(
                    "message_delta",
                    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":" + AnthropicMessages.stopReason(c)
                        + ",\"stop_sequence\":null},\"usage\":{\"output_tokens\":\(words)}}")
            case 4 + words:
                return SSE.event("message_stop", "{\"type\":\"message_stop\"}")
            default:
                return nil
            }
        }
    }
}
