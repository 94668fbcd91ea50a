/// `POST /v1/chat/completions` (and the Azure deployment route): `chat.completion` bodies and
/// `chat.completion.chunk` streams.
enum OpenAIChat {
    static func body(_ completion: Completion) -> String {
        let finish = completion.truncated ? "length" : "stop"
        return "{\"id\":\"chatcmpl-mock-\(completion.requestID)\",\"object\":\"chat.completion\","
            + "\"created\":\(completion.created),\"model\":\(completion.quotedModel),"
            + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
            + JSONText.quoted(completion.text)
            + ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"\(finish)\"}],"
            + usage(completion) + ",\"system_fingerprint\":\"fp_airlock_mock\"}"
    }

    static func usage(_ completion: Completion) -> String {
        "\"usage\":{\"prompt_tokens\":\(completion.promptTokens),\"completion_tokens\":\(completion.completionTokens),"
            + "\"total_tokens\":\(completion.totalTokens)}"
    }

    /// One chunk per word (the first also carries the role), a chunk with `finish_reason`, a usage chunk with
    /// `choices: []` only when `stream_options.include_usage` was asked for, then `[DONE]`.
    struct Stream: SSEEventSource {
        let completion: Completion
        private var index = 0
        private let prefix: String

        init(_ completion: Completion) {
            self.completion = completion
            self.prefix =
                "{\"id\":\"chatcmpl-mock-\(completion.requestID)\",\"object\":\"chat.completion.chunk\","
                + "\"created\":\(completion.created),\"model\":\(completion.quotedModel),"
                + "\"system_fingerprint\":\"fp_airlock_mock\",\"choices\":"
        }

        mutating func next() -> String? {
            defer { self.index += 1 }
            let words = self.completion.completionTokens
            let usageTail = self.completion.includeUsage ? ",\"usage\":null}" : "}"
            switch self.index {
            case 0..<words:
                let role = self.index == 0 ? "\"role\":\"assistant\"," : ""
                let delta = "{" + role + "\"content\":" + JSONText.quoted(self.completion.reply.delta(self.index)) + "}"
                return SSE.data(
                    self.prefix + "[{\"index\":0,\"delta\":" + delta + ",\"logprobs\":null,\"finish_reason\":null}]"
                        + usageTail)
            case words:
                let finish = self.completion.truncated ? "length" : "stop"
                let delta = words == 0 ? "{\"role\":\"assistant\",\"content\":\"\"}" : "{}"
                return SSE.data(
                    self.prefix + "[{\"index\":0,\"delta\":" + delta
                        + ",\"logprobs\":null,\"finish_reason\":\"\(finish)\"}]" + usageTail)
            case words + 1 where self.completion.includeUsage:
                return SSE.data(self.prefix + "[]," + OpenAIChat.usage(self.completion) + "}")
            case words + 1:
                return SSE.data("[DONE]")
            case words + 2 where self.completion.includeUsage:
                return SSE.data("[DONE]")
            default:
                return nil
            }
        }
    }
}
