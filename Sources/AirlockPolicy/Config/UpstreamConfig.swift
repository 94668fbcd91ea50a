/// Which wire protocol an upstream speaks and how it is authenticated.
public enum UpstreamKind: String, ConfigEnum {
    /// api.openai.com: `Authorization: Bearer`.
    case openai
    /// api.anthropic.com: `x-api-key` and `anthropic-version`.
    case anthropic
    /// Azure OpenAI: `/openai/deployments/{deployment}/...?api-version=`, `api-key` header.
    case azureOpenAI = "azure-openai"
    /// Any server with the OpenAI API at `base_url` (vLLM, llama.cpp, a gateway): `Authorization: Bearer` if a
    /// credential is set.
    case openaiCompatible = "openai-compatible"

    /// The agent-facing API family this upstream serves.
    public var api: APIFamily {
        self == .anthropic ? .anthropic : .openai
    }
}

/// The agent-facing API family of a route.
public enum APIFamily: String, ConfigEnum {
    case openai
    case anthropic
}

/// Where a provider credential is read from. The router reads it once, before dropping privileges.
public enum CredentialSource: Sendable, Hashable {
    case file(String)
    case environment(String)

    /// The source a `credential` mapping names: exactly one of `file` or `env`.
    static func decode(file: String?, env: String?, codingPath: [any CodingKey]) throws -> CredentialSource {
        switch (file, env) {
        case (let file?, nil): return .file(file)
        case (nil, let env?): return .environment(env)
        default:
            throw DecodingError.dataCorrupted(
                .init(codingPath: codingPath, debugDescription: "`credential` needs exactly one of `file` or `env`")
            )
        }
    }
}

/// One upstream provider endpoint.
public struct UpstreamConfig: Decodable, Sendable {
    public var name: String
    public var kind: UpstreamKind
    /// `https://api.openai.com`, `https://myresource.openai.azure.com`; plain `http` only for loopback hosts.
    public var baseURL: String
    public var credential: CredentialSource?
    /// Azure OpenAI `api-version` query value.
    public var apiVersion: String?
    /// Azure OpenAI deployment per upstream model name; a model without an entry uses its own name.
    public var deployments: [String: String]
    /// `anthropic-version` sent when the agent sent none.
    public var anthropicVersion: String
    /// PEM bundle to trust instead of the system roots.
    public var caFile: String?
    public var timeouts: UpstreamTimeouts
    public var breaker: BreakerSettings

    enum CodingKeys: String, CodingKey {
        case name, kind, credential, deployments, timeouts, breaker
        case baseURL = "base_url"
        case apiVersion = "api_version"
        case anthropicVersion = "anthropic_version"
        case caFile = "ca_file"
    }

    struct CredentialKeys: Decodable {
        var file: String?
        var env: String?
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        kind = try c.decode(UpstreamKind.self, forKey: .kind)
        baseURL = try c.decode(String.self, forKey: .baseURL)
        if let cred = try c.decodeIfPresent(CredentialKeys.self, forKey: .credential) {
            credential = try CredentialSource.decode(file: cred.file, env: cred.env, codingPath: c.codingPath + [CodingKeys.credential])
        } else {
            credential = nil
        }
        apiVersion = try c.decodeIfPresent(String.self, forKey: .apiVersion)
        deployments = try c.decodeIfPresent([String: String].self, forKey: .deployments) ?? [:]
        anthropicVersion = try c.decodeIfPresent(String.self, forKey: .anthropicVersion) ?? "2023-06-01"
        caFile = try c.decodeIfPresent(String.self, forKey: .caFile)
        timeouts = try c.decodeIfPresent(UpstreamTimeouts.self, forKey: .timeouts) ?? UpstreamTimeouts()
        breaker = try c.decodeIfPresent(BreakerSettings.self, forKey: .breaker) ?? BreakerSettings()
    }

    public init(
        name: String,
        kind: UpstreamKind,
        baseURL: String,
        credential: CredentialSource? = nil,
        apiVersion: String? = nil,
        deployments: [String: String] = [:],
        anthropicVersion: String = "2023-06-01",
        caFile: String? = nil,
        timeouts: UpstreamTimeouts = UpstreamTimeouts(),
        breaker: BreakerSettings = BreakerSettings()
    ) {
        self.name = name
        self.kind = kind
        self.baseURL = baseURL
        self.credential = credential
        self.apiVersion = apiVersion
        self.deployments = deployments
        self.anthropicVersion = anthropicVersion
        self.caFile = caFile
        self.timeouts = timeouts
        self.breaker = breaker
    }
}

/// Upstream timeouts. Each has a ceiling that configuration cannot exceed (see `Ceiling`).
public struct UpstreamTimeouts: Decodable, Sendable, Equatable {
    public var connect: ConfigDuration
    /// From sending the request to receiving the response head.
    public var responseHeaders: ConfigDuration
    /// Longest silence while reading a response body (between stream chunks).
    public var idle: ConfigDuration

    public enum Ceiling {
        public static let connect = ConfigDuration.seconds(30)
        public static let responseHeaders = ConfigDuration.seconds(600)
        public static let idle = ConfigDuration.seconds(600)
    }

    enum CodingKeys: String, CodingKey {
        case connect, idle
        case responseHeaders = "response_headers"
    }

    public init(from decoder: any Decoder) throws {
        let d = UpstreamTimeouts()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        connect = try c.decodeIfPresent(ConfigDuration.self, forKey: .connect) ?? d.connect
        responseHeaders = try c.decodeIfPresent(ConfigDuration.self, forKey: .responseHeaders) ?? d.responseHeaders
        idle = try c.decodeIfPresent(ConfigDuration.self, forKey: .idle) ?? d.idle
    }

    public init(
        connect: ConfigDuration = .seconds(5),
        responseHeaders: ConfigDuration = .seconds(120),
        idle: ConfigDuration = .seconds(120)
    ) {
        self.connect = connect
        self.responseHeaders = responseHeaders
        self.idle = idle
    }
}

/// Circuit breaker: open after `failures` failures within `window`, probe again after `cooldown`.
public struct BreakerSettings: Decodable, Sendable, Equatable {
    public var failures: Int
    public var window: ConfigDuration
    public var cooldown: ConfigDuration

    enum CodingKeys: String, CodingKey {
        case failures, window, cooldown
    }

    public init(from decoder: any Decoder) throws {
        let d = BreakerSettings()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        failures = try c.decodeIfPresent(Int.self, forKey: .failures) ?? d.failures
        window = try c.decodeIfPresent(ConfigDuration.self, forKey: .window) ?? d.window
        cooldown = try c.decodeIfPresent(ConfigDuration.self, forKey: .cooldown) ?? d.cooldown
    }

    public init(failures: Int = 5, window: ConfigDuration = .seconds(30), cooldown: ConfigDuration = .seconds(15)) {
        self.failures = failures
        self.window = window
        self.cooldown = cooldown
    }
}
