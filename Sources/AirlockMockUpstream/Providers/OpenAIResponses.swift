/// `POST /v1/responses`: `response` objects and the typed `response.*` event stream.
enum OpenAIResponses {
    static func body(_ completion: Completion) -> String {
        response(
            completion, status: completion.truncated ? "incomplete" : "completed",
            output: [message(completion, status: "completed")], withUsage: true)
    }

    static func usage(_ completion: Completion) -> String {
        "{\"input_tokens\":\(completion.promptTokens),\"input_tokens_details\":{\"cached_tokens\":0},"
            + "\"output_tokens\":\(completion.completionTokens),\"output_tokens_details\":{\"reasoning_tokens\":0},"
            + "\"total_tokens\":\(completion.totalTokens)}"
    }

    static func messageID(_ completion: Completion) -> String {
        "msg_mock\(completion.requestID)"
    }

    static func message(_ completion: Completion, status: String, text: String? = nil) -> String {
        let content =
            text.map { "[" + part($0) + "]" } ?? (status == "completed" ? "[" + part(completion.text) + "]" : "[]")
        return "{\"id\":\"\(messageID(completion))\",\"type\":\"message\",\"status\":\"\(status)\","
            + "\"role\":\"assistant\",\"content\":" + content + "}"
    }

    static func part(_ text: String) -> String {
        "{\"type\":\"output_text\",\"text\":" + JSONText.quoted(text) + ",\"annotations\":[]}"
    }

    static func response(_ completion: Completion, status: String, output: [String], withUsage: Bool) -> String {
        let incomplete = status == "incomplete" ? "{\"reason\":\"max_output_tokens\"}" : "null"
        return
            "{\"id\":\"resp_mock\(completion.requestID)\",\"object\":\"response\",\"created_at\":\(completion.created),"
            + "\"status\":\"\(status)\",\"error\":null,\"incomplete_details\":\(incomplete),\"instructions\":null,"
            + "\"model\":\(completion.quotedModel),\"output\":[" + output.joined(separator: ",") + "],"
            + "\"parallel_tool_calls\":true,\"tool_choice\":\"auto\",\"tools\":[],\"temperature\":1.0,\"top_p\":1.0,"
            + "\"text\":{\"format\":{\"type\":\"text\"}},\"metadata\":{},"
            + "\"usage\":" + (withUsage ? usage(completion) : "null") + "}"
    }

    /// `response.created`, `response.in_progress`, output item and content part added, one
    /// `response.output_text.delta` per word, the matching `.done` events, then `response.completed` with usage.
    struct Stream: SSEEventSource {
        let completion: Completion
        private var index = 0

        init(_ completion: Completion) {
            self.completion = completion
        }

        mutating func next() -> String? {
            defer { self.index += 1 }
            let words = self.completion.completionTokens
            let c = self.completion
            let item = "\"item_id\":\"\(OpenAIResponses.messageID(c))\",\"output_index\":0,\"content_index\":0"
            switch self.index {
            case 0:
                return self.event(
                    "response.created",
                    "\"response\":" + OpenAIResponses.response(c, status: "in_progress", output: [], withUsage: false))
            case 1:
                return self.event(
                    "response.in_progress",
                    "\"response\":" + OpenAIResponses.response(c, status: "in_progress", output: [], withUsage: false))
            case 2:
                return self.event(
                    "response.output_item.added",
                    "\"output_index\":0,\"item\":" + OpenAIResponses.message(c, status: "in_progress"))
            case 3:
                return self.event("response.content_part.added", item + ",\"part\":" + OpenAIResponses.part(""))
            case 4..<(4 + words):
                return self.event(
                    "response.output_text.delta",
                    item + ",\"delta\":" + JSONText.quoted(c.reply.delta(self.index - 4)) + ",\"logprobs\":[]")
            case 4 + words:
                return self.event(
                    "response.output_text.done", item + ",\"text\":" + JSONText.quoted(c.text) + ",\"logprobs\":[]")
            case 5 + words:
                return self.event("response.content_part.done", item + ",\"part\":" + OpenAIResponses.part(c.text))
            case 6 + words:
                return self.event(
                    "response.output_item.done",
                    "\"output_index\":0,\"item\":" + OpenAIResponses.message(c, status: "completed"))
            case 7 + words:
                let status = c.truncated ? "incomplete" : "completed"
                let name = c.truncated ? "response.incomplete" : "response.completed"
                return self.event(
                    name,
                    "\"response\":"
                        + OpenAIResponses.response(
                            c, status: status, output: [OpenAIResponses.message(c, status: "completed")],
                            withUsage: true))
            default:
                return nil
            }
        }

        private func event(_ type: String, _ fields: String) -> String {
            SSE.event(type, "{\"type\":\"\(type)\",\"sequence_number\":\(self.index)," + fields + "}")
        }
    }
}
