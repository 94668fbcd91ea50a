import AirlockPolicy
import NIOHTTP1

/// How one upstream kind is called: the URL for an endpoint, and how the credential and API headers go on.
/// One value per configured upstream; the wire shapes of bodies are the same across OpenAI-style kinds.
protocol Provider: Sendable {
    var kind: UpstreamKind { get }
    /// The key the router injects (nil for an upstream without one); scrubbed from error bodies.
    var credential: Credential? { get }
    /// The request target (path and query, under the upstream's path prefix) for `endpoint` and the upstream
    /// model name, or a refusal when this kind of upstream does not offer the endpoint.
    func target(for endpoint: Endpoint, model: String) throws(RouterError) -> String
    /// Adds the credential and any API headers the upstream needs. `inbound` are the agent's headers
    /// after filtering.
    func decorate(_ headers: inout HTTPHeaders, inbound: HTTPHeaders)
}

/// api.openai.com, and any OpenAI-compatible server: `Authorization: Bearer`.
struct OpenAIProvider: Provider {
    let kind: UpstreamKind
    /// The upstream's path prefix ("" or e.g. "/proxy").
    let base: String
    let credential: Credential?

    func target(for endpoint: Endpoint, model: String) throws(RouterError) -> String {
        base + endpoint.path
    }

    func decorate(_ headers: inout HTTPHeaders, inbound: HTTPHeaders) {
        if let credential {
            headers.replaceOrAdd(name: "authorization", value: "Bearer " + credential.secret)
        }
    }
}

/// Azure OpenAI: deployment URLs, `api-version`, and the `api-key` header.
struct AzureOpenAIProvider: Provider {
    var kind: UpstreamKind { .azureOpenAI }
    /// The upstream's path prefix ("" or e.g. "/proxy").
    let base: String
    let apiVersion: String
    let deployments: [String: String]
    let credential: Credential?

    func target(for endpoint: Endpoint, model: String) throws(RouterError) -> String {
        let operation: String
        switch endpoint {
        case .chatCompletions: operation = "chat/completions"
        case .embeddings: operation = "embeddings"
        case .responses, .messages, .countTokens, .models, .model:
            throw RouterError(
                status: 400,
                reason: "unsupported_endpoint",
                message: "The upstream for this model (Azure OpenAI) does not serve \(endpoint.path) through the router."
            )
        }
        let deployment = deployments[model] ?? model
        let escaped = Self.percentEncode(deployment)
        return "\(base)/openai/deployments/\(escaped)/\(operation)?api-version=\(Self.percentEncode(apiVersion))"
    }

    func decorate(_ headers: inout HTTPHeaders, inbound: HTTPHeaders) {
        if let credential {
            headers.replaceOrAdd(name: "api-key", value: credential.secret)
        }
    }

    static func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return out
    }
}

/// api.anthropic.com: `x-api-key` and `anthropic-version`.
struct AnthropicProvider: Provider {
    var kind: UpstreamKind { .anthropic }
    /// The upstream's path prefix ("" or e.g. "/proxy").
    let base: String
    let defaultVersion: String
    let credential: Credential?

    func target(for endpoint: Endpoint, model: String) throws(RouterError) -> String {
        guard endpoint == .messages || endpoint == .countTokens else {
            throw RouterError(
                status: 400,
                reason: "unsupported_endpoint",
                message: "The upstream for this model (Anthropic) serves /v1/messages and /v1/messages/count_tokens only."
            )
        }
        return base + endpoint.path
    }

    func decorate(_ headers: inout HTTPHeaders, inbound: HTTPHeaders) {
        if let credential {
            headers.replaceOrAdd(name: "x-api-key", value: credential.secret)
        }
        if !headers.contains(name: "anthropic-version") {
            headers.add(name: "anthropic-version", value: defaultVersion)
        }
    }
}

enum ProviderFactory {
    static func make(_ upstream: UpstreamConfig, url: UpstreamURL, credential: Credential?) -> any Provider {
        switch upstream.kind {
        case .openai, .openaiCompatible:
            return OpenAIProvider(kind: upstream.kind, base: url.pathPrefix, credential: credential)
        case .azureOpenAI:
            return AzureOpenAIProvider(
                base: url.pathPrefix,
                apiVersion: upstream.apiVersion ?? "",
                deployments: upstream.deployments,
                credential: credential
            )
        case .anthropic:
            return AnthropicProvider(base: url.pathPrefix, defaultVersion: upstream.anthropicVersion, credential: credential)
        }
    }
}
