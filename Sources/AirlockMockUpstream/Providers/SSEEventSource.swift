/// A lazily generated stream of Server-Sent Events, one complete event (with its blank-line terminator) at a time,
/// so a long stream is never built in memory.
protocol SSEEventSource {
    mutating func next() -> String?
}

enum SSE {
    /// `data: JSON` event (OpenAI chat completions).
    static func data(_ json: String) -> String {
        "data: " + json + "\n\n"
    }

    /// `event: NAME` + `data: JSON` event (OpenAI responses, Anthropic messages).
    static func event(_ name: String, _ json: String) -> String {
        "event: " + name + "\ndata: " + json + "\n\n"
    }
}
