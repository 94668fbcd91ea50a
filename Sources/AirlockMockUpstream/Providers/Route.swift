import NIOHTTP1

/// The provider endpoint a request URI names.
enum Endpoint: Sendable, Equatable {
    case chatCompletions
    case responses
    case embeddings
    case models
    case messages
    /// Anthropic's `POST /v1/messages/count_tokens`: the prompt's token count, nothing generated.
    case countTokens
}

/// A matched route: endpoint, provider conventions, and the Azure deployment when there is one.
struct Route: Sendable, Equatable {
    var endpoint: Endpoint
    var provider: Provider
    var deployment: String?
    var method: HTTPMethod

    /// Matches `path` (query removed); `nil` for unknown paths.
    init?(path: String, headers: HTTPHeaders) {
        switch path {
        case "/v1/chat/completions":
            self.init(.chatCompletions, .openAI, .POST)
        case "/v1/responses":
            self.init(.responses, .openAI, .POST)
        case "/v1/embeddings":
            self.init(.embeddings, .openAI, .POST)
        case "/v1/models":
            self.init(.models, headers.contains(name: "anthropic-version") ? .anthropic : .openAI, .GET)
        case "/v1/messages":
            self.init(.messages, .anthropic, .POST)
        case "/v1/messages/count_tokens":
            self.init(.countTokens, .anthropic, .POST)
        default:
            guard let (deployment, endpoint) = Self.azure(path) else { return nil }
            self.init(endpoint, .azure, .POST)
            self.deployment = deployment
        }
    }

    private init(_ endpoint: Endpoint, _ provider: Provider, _ method: HTTPMethod) {
        self.endpoint = endpoint
        self.provider = provider
        self.method = method
    }

    /// `/openai/deployments/{deployment}/chat/completions` and `/openai/deployments/{deployment}/embeddings`.
    private static func azure(_ path: String) -> (String, Endpoint)? {
        let prefix = "/openai/deployments/"
        guard path.hasPrefix(prefix) else { return nil }
        let rest = path.dropFirst(prefix.count)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        let deployment = String(rest[..<slash])
        guard !deployment.isEmpty else { return nil }
        switch rest[slash...] {
        case "/chat/completions": return (deployment, .chatCompletions)
        case "/embeddings": return (deployment, .embeddings)
        default: return nil
        }
    }

    /// The error shape for a request that matched no route: Anthropic when it looks like an Anthropic client.
    static func guessProvider(path: String, headers: HTTPHeaders) -> Provider {
        if path.hasPrefix("/openai/") { return .azure }
        if headers.contains(name: "anthropic-version") || headers.contains(name: "x-api-key") { return .anthropic }
        return .openAI
    }
}
