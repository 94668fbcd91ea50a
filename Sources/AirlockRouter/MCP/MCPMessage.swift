import AirlockJSON

/// The fields of an agent's JSON-RPC message the gateway decides on. Only these are read; the body is forwarded
/// as the agent sent it.
struct MCPMessage: Sendable {
    /// The method; nil for a response (the agent answering a request of the server's).
    let method: String?
    /// The id as written (raw JSON), for an error answer; nil for a notification or a response.
    let id: [UInt8]?
    /// For `tools/call`: the tool's name.
    let tool: String?

    /// Longest method or tool name accepted: names, not text (they are recorded in receipts).
    static let maxName = 256

    /// Reads one JSON-RPC message. A batch (a JSON array, which the current MCP revision no longer allows) is
    /// refused: each call in it would need its own decision.
    static func parse(_ body: [UInt8]) -> Result<MCPMessage, RouterError> {
        let scanner = JSONScanner(body)
        let root: JSONScanner.Span
        do {
            root = try scanner.validateDocument()
        } catch {
            return .failure(
                .badRequest("invalid_json", "The body is not valid JSON: \(error.message) at byte \(error.offset)."))
        }
        if root.kind == .array {
            return .failure(
                .badRequest(
                    "mcp_batch_refused",
                    "JSON-RPC batches are not relayed to MCP servers; send one message per request.")
            )
        }
        guard root.kind == .object, let version = scanner.value(of: root, key: "jsonrpc").flatMap(scanner.string),
            version == "2.0"
        else {
            return .failure(
                .badRequest(
                    "invalid_jsonrpc", "The body is not a JSON-RPC 2.0 message (an object with \"jsonrpc\": \"2.0\")."))
        }
        let id = scanner.value(of: root, key: "id").map { Array(body[$0.start..<$0.end]) }
        guard let methodSpan = scanner.value(of: root, key: "method") else {
            return .success(MCPMessage(method: nil, id: nil, tool: nil))
        }
        guard let method = scanner.string(methodSpan), !method.isEmpty, method.utf8.count <= maxName else {
            return .failure(.badRequest("invalid_jsonrpc", "\"method\" must be a string of 1 to \(maxName) bytes."))
        }
        guard method == "tools/call" else {
            return .success(MCPMessage(method: method, id: id, tool: nil))
        }
        guard let params = scanner.value(of: root, key: "params"), params.kind == .object,
            let tool = scanner.value(of: params, key: "name").flatMap(scanner.string), !tool.isEmpty,
            tool.utf8.count <= maxName
        else {
            return .failure(
                .badRequest(
                    "invalid_tool_call", "tools/call needs \"params.name\", a tool name of 1 to \(maxName) bytes."))
        }
        return .success(MCPMessage(method: method, id: id, tool: tool))
    }

    /// What the receipt records as the method: the method, or `response` for the agent's answer to the server.
    var recorded: String { method ?? "response" }

    /// A JSON-RPC error answer to this message (id null when it had none), with the refusal's reason as data.
    func errorAnswer(code: Int, _ refusal: RouterError) -> String {
        let id = self.id.map { String(decoding: $0, as: UTF8.self) } ?? "null"
        return
            "{\"jsonrpc\":\"2.0\",\"id\":\(id),\"error\":{\"code\":\(code),\"message\":\(JSONText.quoted(refusal.message)),"
            + "\"data\":{\"reason\":\(JSONText.quoted(refusal.reason))}}}"
    }
}
