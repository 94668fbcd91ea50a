import Foundation

/// The few request-body fields the mock needs, read from the JSON body.
struct ProviderRequest {
    var model: String?
    var stream = false
    var includeUsage = false
    var maxTokens: Int?
    var promptWords = 0
    var embeddingInputs: [String] = []
    var dimensions: Int?
    var base64Embeddings = false

    /// Why a body was refused: a message and the offending parameter, rendered as a 400.
    struct Invalid: Error {
        var message: String
        var param: String?
    }

    /// Parses and checks the body for `endpoint`. `modelRequired` is false for Azure, where the deployment names it.
    static func parse(_ body: Data, endpoint: Endpoint, modelRequired: Bool) throws(Invalid) -> ProviderRequest {
        guard let decoded = try? JSONSerialization.jsonObject(with: body) else {
            throw Invalid(message: "We could not parse the JSON body of your request.", param: nil)
        }
        guard let object = decoded as? [String: Any] else {
            throw Invalid(message: "The request body must be a JSON object.", param: nil)
        }
        var request = ProviderRequest()
        request.model = object["model"] as? String
        if modelRequired && request.model == nil {
            throw Invalid(message: "you must provide a model parameter", param: "model")
        }
        request.stream = (object["stream"] as? Bool) ?? false
        if let options = object["stream_options"] as? [String: Any] {
            request.includeUsage = (options["include_usage"] as? Bool) ?? false
        }
        switch endpoint {
        case .chatCompletions:
            guard let messages = object["messages"] as? [Any] else {
                throw Invalid(message: "Missing required parameter: 'messages'.", param: "messages")
            }
            request.promptWords = Self.words(inMessages: messages)
            let maxCompletionTokens = try Self.integer(object, "max_completion_tokens")
            let maxTokens = try Self.integer(object, "max_tokens")
            request.maxTokens = maxCompletionTokens ?? maxTokens
        case .messages:
            guard let messages = object["messages"] as? [Any] else {
                throw Invalid(message: "messages: Field required", param: "messages")
            }
            guard let maxTokens = try Self.integer(object, "max_tokens") else {
                throw Invalid(message: "max_tokens: Field required", param: "max_tokens")
            }
            request.maxTokens = maxTokens
            request.promptWords = Self.words(inMessages: messages) + Self.words(inContent: object["system"])
        case .responses:
            request.promptWords = Self.words(inContent: object["input"]) + Self.words(inContent: object["instructions"])
            request.maxTokens = try Self.integer(object, "max_output_tokens")
        case .embeddings:
            request.embeddingInputs = try Self.embeddingInputs(object["input"])
            request.promptWords = request.embeddingInputs.reduce(0) { $0 + WordCount.count($1) }
            request.dimensions = try Self.integer(object, "dimensions")
            request.base64Embeddings = (object["encoding_format"] as? String) == "base64"
        case .countTokens:
            guard let messages = object["messages"] as? [Any] else {
                throw Invalid(message: "messages: Field required", param: "messages")
            }
            request.promptWords = Self.words(inMessages: messages) + Self.words(inContent: object["system"])
        case .models:
            break
        }
        request.promptWords = max(1, request.promptWords)
        return request
    }

    private static func integer(_ object: [String: Any], _ key: String) throws(Invalid) -> Int? {
        guard let raw = object[key], !(raw is NSNull) else { return nil }
        guard let value = raw as? Int, !(raw is Bool), value >= 0 else {
            throw Invalid(message: "Invalid '\(key)': expected a non-negative integer.", param: key)
        }
        return value
    }

    private static func words(inMessages messages: [Any]) -> Int {
        messages.reduce(0) { total, message in
            total + Self.words(inContent: (message as? [String: Any])?["content"])
        }
    }

    /// Words in a content value: a string, or an array of parts / input items carrying `text` or `content`.
    private static func words(inContent content: Any?) -> Int {
        switch content {
        case let text as String:
            return WordCount.count(text)
        case let parts as [Any]:
            return parts.reduce(0) { total, part in
                guard let part = part as? [String: Any] else {
                    return total + ((part as? String).map(WordCount.count) ?? 0)
                }
                if let text = part["text"] as? String {
                    return total + WordCount.count(text)
                }
                return total + Self.words(inContent: part["content"])
            }
        default:
            return 0
        }
    }

    private static func embeddingInputs(_ input: Any?) throws(Invalid) -> [String] {
        switch input {
        case let text as String:
            return [text]
        case let items as [Any] where !items.isEmpty:
            if let strings = items as? [String] {
                return strings
            }
            if let tokens = items as? [Int] {
                return [tokens.map(String.init).joined(separator: " ")]
            }
            if let tokenLists = items as? [[Int]] {
                return tokenLists.map { $0.map(String.init).joined(separator: " ") }
            }
            throw Invalid(message: "Invalid 'input': expected a string or an array of strings.", param: "input")
        default:
            throw Invalid(message: "Missing required parameter: 'input'.", param: "input")
        }
    }
}
