import AirlockPolicy

/// The agent-facing API operations the router serves.
public enum Endpoint: String, Sendable, CaseIterable {
    case chatCompletions = "chat.completions"
    case responses
    case embeddings
    case messages
    /// Anthropic's `POST /v1/messages/count_tokens` (forwarded; nothing is generated, nothing charged).
    case countTokens = "messages.count_tokens"
    case models
    /// `GET /v1/models/{id}`, answered by the router within the sandbox's allowlist.
    case model = "models.retrieve"

    /// Maps a request line to an endpoint; nil for paths the router does not serve.
    static func match(method: String, path: Substring) -> Endpoint? {
        switch (method, path) {
        case ("POST", "/v1/chat/completions"): return .chatCompletions
        case ("POST", "/v1/responses"): return .responses
        case ("POST", "/v1/embeddings"): return .embeddings
        case ("POST", "/v1/messages"): return .messages
        case ("POST", "/v1/messages/count_tokens"): return .countTokens
        case ("GET", "/v1/models"): return .models
        case ("GET", _) where path.hasPrefix("/v1/models/") && path.count > "/v1/models/".count: return .model
        default: return nil
        }
    }

    /// The API family whose error shape and routes apply.
    public var family: APIFamily {
        self == .messages || self == .countTokens ? .anthropic : .openai
    }

    /// The upstream path for OpenAI-style and Anthropic upstreams.
    var path: String {
        switch self {
        case .chatCompletions: return "/v1/chat/completions"
        case .responses: return "/v1/responses"
        case .embeddings: return "/v1/embeddings"
        case .messages: return "/v1/messages"
        case .countTokens: return "/v1/messages/count_tokens"
        case .models, .model: return "/v1/models"
        }
    }

    /// Whether the endpoint streams when the body says `"stream": true`.
    var canStream: Bool {
        self == .chatCompletions || self == .responses || self == .messages
    }
}
