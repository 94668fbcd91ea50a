import AirlockJSON
import AirlockPolicy

/// The fields of a request body the router relies on, found by span so the body can be forwarded as bytes
/// with only the necessary splices (model alias, `max_tokens` cap, `stream_options.include_usage`).
struct RequestShape: Sendable {
    let endpoint: Endpoint
    let scanner: JSONScanner
    let root: JSONScanner.Span
    let model: String
    let modelSpan: JSONScanner.Span
    let stream: Bool
    /// Output-token limit fields present in the body, with their values.
    let maxTokenFields: [(name: String, span: JSONScanner.Span, value: Int)]
    /// `stream_options` when present (chat completions).
    let streamOptions: JSONScanner.Span?
    /// What the body asks the provider to do beyond answering (checked against the sandbox's policy).
    let features: ProviderFeatures

    /// The agent itself asked a chat-completions stream for usage (`stream_options.include_usage: true`); when
    /// it did not, the usage the router asks for is taken out of the stream it relays.
    var agentAskedForUsage: Bool {
        guard let options = streamOptions, let value = scanner.value(of: options, key: "include_usage") else { return false }
        return scanner.bool(value) == true
    }

    /// The name of the output-token limit field for requests that carry none.
    var maxTokensFieldName: String? {
        switch endpoint {
        case .chatCompletions: return "max_completion_tokens"
        case .responses: return "max_output_tokens"
        case .messages: return "max_tokens"
        case .embeddings, .countTokens, .models, .model: return nil
        }
    }

    /// Validates the JSON and the shape of the fields the router uses. Errors are 400s that say which field.
    static func parse(_ endpoint: Endpoint, body: [UInt8]) throws(RouterError) -> RequestShape {
        let scanner = JSONScanner(body)
        let root: JSONScanner.Span
        do {
            root = try scanner.validateDocument()
        } catch {
            if let name = error.duplicateName {
                // Parsers disagree on which duplicate wins; refusing them keeps the router and upstream in step.
                throw .badRequest("duplicate_field", "The request body has the field \"\(name.prefix(64))\" more than once in one object (byte \(error.offset)).")
            }
            throw .badRequest("invalid_json", "The request body is not valid JSON (byte \(error.offset): \(error.message)).")
        }
        guard root.kind == .object else {
            throw .badRequest("invalid_request", "The request body must be a JSON object.")
        }
        var fields: [String: JSONScanner.Span] = [:]
        for (key, value) in scanner.members(of: root) {
            guard let name = scanner.string(key) else { continue }
            // Parsers disagree on which duplicate wins; refusing them keeps the router and upstream in step.
            if fields.updateValue(value, forKey: name) != nil {
                throw .badRequest("duplicate_field", "The request body has the field \"\(name)\" more than once.")
            }
        }
        guard let modelSpan = fields["model"] else {
            throw .badRequest("missing_field", "The request body needs a \"model\" string.")
        }
        guard let model = scanner.string(modelSpan), !model.isEmpty, model.utf8.count <= 256 else {
            throw .badRequest("invalid_field", "\"model\" must be a non-empty string of at most 256 bytes.")
        }
        var stream = false
        if let span = fields["stream"], endpoint.canStream {
            guard let value = scanner.bool(span) else {
                throw .badRequest("invalid_field", "\"stream\" must be true or false.")
            }
            stream = value
        }
        switch endpoint {
        case .chatCompletions, .messages, .countTokens:
            guard let messages = fields["messages"], messages.kind == .array else {
                throw .badRequest("missing_field", "The request body needs a \"messages\" array.")
            }
            let elements = scanner.elements(of: messages)
            guard !elements.isEmpty else {
                throw .badRequest("invalid_field", "\"messages\" must not be empty.")
            }
            if let i = elements.firstIndex(where: { $0.kind != .object }) {
                throw .badRequest("invalid_field", "\"messages[\(i)]\" must be an object.")
            }
        case .responses, .embeddings:
            guard let input = fields["input"], input.kind == .string || input.kind == .array else {
                throw .badRequest("missing_field", "The request body needs an \"input\" string or array.")
            }
        case .models, .model:
            break
        }
        var streamOptions: JSONScanner.Span?
        if endpoint == .chatCompletions, let span = fields["stream_options"], span.kind != .null {
            guard span.kind == .object else {
                throw .badRequest("invalid_field", "\"stream_options\" must be an object.")
            }
            // The router reads include_usage here and the upstream reads its own copy: with a name twice they
            // could read different ones.
            var names = Set<String>()
            for (key, _) in scanner.members(of: span) {
                guard let name = scanner.string(key), names.insert(name).inserted else {
                    throw .badRequest("duplicate_field", "\"stream_options\" has a field more than once.")
                }
            }
            streamOptions = span
        }
        let limitNames: [String]
        switch endpoint {
        case .chatCompletions: limitNames = ["max_tokens", "max_completion_tokens"]
        case .responses: limitNames = ["max_output_tokens"]
        case .messages: limitNames = ["max_tokens"]
        case .embeddings, .countTokens, .models, .model: limitNames = []
        }
        var limits: [(String, JSONScanner.Span, Int)] = []
        for name in limitNames {
            guard let span = fields[name], span.kind != .null else { continue }
            guard let value = scanner.integer(span), value >= 1 else {
                throw .badRequest("invalid_field", "\"\(name)\" must be a positive integer.")
            }
            limits.append((name, span, value))
        }
        if endpoint == .messages, limits.isEmpty {
            throw .badRequest("missing_field", "The request body needs \"max_tokens\", a positive integer.")
        }
        return RequestShape(
            endpoint: endpoint,
            scanner: scanner,
            root: root,
            model: model,
            modelSpan: modelSpan,
            stream: stream,
            maxTokenFields: limits,
            streamOptions: streamOptions,
            features: try ProviderFeatures.read(fields, scanner: scanner)
        )
    }

    /// What to change in the body before it goes upstream.
    struct Rewrite: Sendable {
        var model: String?
        /// Lower every output-token limit above this to it, and add one if the body has none.
        var maxTokensCap: Int?
        var includeUsage: Bool
    }

    /// The body to send upstream: the original bytes with the splices `rewrite` asks for.
    func body(_ rewrite: Rewrite) -> [UInt8] {
        var edits: [(start: Int, end: Int, text: String)] = []
        if let model = rewrite.model, model != self.model {
            edits.append((modelSpan.start, modelSpan.end, JSONText.quoted(model)))
        }
        var appended = ""
        if let cap = rewrite.maxTokensCap {
            for field in maxTokenFields where field.value > cap {
                edits.append((field.span.start, field.span.end, String(cap)))
            }
            if maxTokenFields.isEmpty, let name = maxTokensFieldName {
                appended += ",\"\(name)\":\(cap)"
            }
        }
        if rewrite.includeUsage, stream, endpoint == .chatCompletions {
            if let options = streamOptions {
                if let existing = scanner.value(of: options, key: "include_usage") {
                    if scanner.bool(existing) != true {
                        edits.append((existing.start, existing.end, "true"))
                    }
                } else {
                    let empty = scanner.members(of: options).isEmpty
                    edits.append((options.end - 1, options.end - 1, (empty ? "" : ",") + "\"include_usage\":true"))
                }
            } else {
                appended += ",\"stream_options\":{\"include_usage\":true}"
            }
        }
        if !appended.isEmpty {
            edits.append((root.end - 1, root.end - 1, appended))
        }
        guard !edits.isEmpty else { return scanner.bytes }
        edits.sort { $0.start < $1.start }
        var out: [UInt8] = []
        out.reserveCapacity(scanner.bytes.count + 64)
        var cursor = 0
        for edit in edits {
            out.append(contentsOf: scanner.bytes[cursor..<edit.start])
            out.append(contentsOf: edit.text.utf8)
            cursor = edit.end
        }
        out.append(contentsOf: scanner.bytes[cursor...])
        return out
    }
}
