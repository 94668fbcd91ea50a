/// One agent identity: who it is (peer UIDs/GIDs), which tenant pays, and what it may do.
public struct SandboxPolicy: Decodable, Sendable {
    public var name: String
    public var tenant: String
    /// Peer UIDs that are this sandbox on Unix-socket and TCP-loopback listeners.
    public var uids: [UInt32]
    /// Peer GIDs that are this sandbox on Unix-socket listeners (checked when no UID matched).
    public var gids: [UInt32]
    /// Model names from `models` this sandbox may call; `"*"` allows every configured model.
    public var models: [String]
    public var maxConcurrent: Int
    public var rate: RateSettings
    public var maxTokens: MaxTokensPolicy?
    /// Hosts this sandbox may reach through the egress proxy; none by default.
    public var egress: EgressPolicy
    /// Provider-side tool types the provider may run for this sandbox (`web_search` also allows
    /// `web_search_20250305`, ...; `mcp` allows MCP tools and Anthropic's `mcp_servers`). None by default: each one
    /// reaches hosts, or runs code, beyond the sandbox's egress policy.
    public var providerTools: [String]
    /// `anthropic-beta` values this sandbox may send; nil: ``defaultAnthropicBetas``.
    public var anthropicBetas: [String]?
    /// Most choices (`n`) one request may ask for.
    public var maxChoices: Int
    /// How this sandbox's requests are reserved against its tenant's token budgets.
    public var budget: SandboxBudget
    /// The MCP servers this sandbox may reach at `/mcp/<server>`, and which of their tools; none by default.
    public var mcp: [MCPAccess]

    enum CodingKeys: String, CodingKey {
        case name, tenant, uids, gids, models, rate, egress
        case maxConcurrent = "max_concurrent"
        case maxTokens = "max_tokens"
        case providerTools = "provider_tools"
        case anthropicBetas = "anthropic_betas"
        case maxChoices = "max_choices"
        case budget, mcp
    }

    /// Betas that change how the provider treats the request itself, and make it reach nothing and run nothing
    /// for the agent (no MCP client, web fetch, code execution, skills).
    public static let defaultAnthropicBetas = [
        "prompt-caching-2024-07-31", "token-efficient-tools-2025-02-19", "output-128k-2025-02-19",
        "interleaved-thinking-2025-05-14", "fine-grained-tool-streaming-2025-05-14", "context-1m-2025-08-07",
        "extended-cache-ttl-2025-04-11", "max-tokens-3-5-sonnet-2024-07-15", "token-counting-2024-11-01",
    ]

    public static let defaultRate = RateSettings(rps: 50, burst: 100)

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        tenant = try c.decode(String.self, forKey: .tenant)
        uids = try c.decodeIfPresent([UInt32].self, forKey: .uids) ?? []
        gids = try c.decodeIfPresent([UInt32].self, forKey: .gids) ?? []
        models = try c.decode([String].self, forKey: .models)
        maxConcurrent = try c.decodeIfPresent(Int.self, forKey: .maxConcurrent) ?? 32
        rate = try c.decodeIfPresent(RateSettings.self, forKey: .rate) ?? Self.defaultRate
        maxTokens = try c.decodeIfPresent(MaxTokensPolicy.self, forKey: .maxTokens)
        egress = try c.decodeIfPresent(EgressPolicy.self, forKey: .egress) ?? EgressPolicy()
        providerTools = try c.decodeIfPresent([String].self, forKey: .providerTools) ?? []
        anthropicBetas = try c.decodeIfPresent([String].self, forKey: .anthropicBetas)
        maxChoices = try c.decodeIfPresent(Int.self, forKey: .maxChoices) ?? 1
        budget = try c.decodeIfPresent(SandboxBudget.self, forKey: .budget) ?? SandboxBudget()
        mcp = try c.decodeIfPresent([MCPAccess].self, forKey: .mcp) ?? []
    }

    public init(
        name: String,
        tenant: String,
        uids: [UInt32] = [],
        gids: [UInt32] = [],
        models: [String],
        maxConcurrent: Int = 32,
        rate: RateSettings = SandboxPolicy.defaultRate,
        maxTokens: MaxTokensPolicy? = nil,
        egress: EgressPolicy = EgressPolicy(),
        providerTools: [String] = [],
        anthropicBetas: [String]? = nil,
        maxChoices: Int = 1,
        budget: SandboxBudget = SandboxBudget(),
        mcp: [MCPAccess] = []
    ) {
        self.budget = budget
        self.mcp = mcp
        self.egress = egress
        self.providerTools = providerTools
        self.anthropicBetas = anthropicBetas
        self.maxChoices = maxChoices
        self.name = name
        self.tenant = tenant
        self.uids = uids
        self.gids = gids
        self.models = models
        self.maxConcurrent = maxConcurrent
        self.rate = rate
        self.maxTokens = maxTokens
    }

    /// Whether this sandbox may call `model` (an agent-facing name from `models`).
    public func allows(model: String) -> Bool {
        models.contains("*") || models.contains(model)
    }

    /// This sandbox's access to the MCP server `server`, or nil when it has none.
    public func mcpAccess(_ server: String) -> MCPAccess? {
        mcp.first { $0.server == server }
    }
}

/// A cap on the output tokens one request may ask for.
public struct MaxTokensPolicy: Decodable, Sendable, Equatable {
    public enum OnExceed: String, ConfigEnum {
        /// Refuse the request with 400.
        case reject
        /// Lower the request's value to the cap and forward it.
        case clamp
    }

    public var cap: Int
    public var onExceed: OnExceed

    enum CodingKeys: String, CodingKey {
        case cap
        case onExceed = "on_exceed"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        cap = try c.decode(Int.self, forKey: .cap)
        onExceed = try c.decodeIfPresent(OnExceed.self, forKey: .onExceed) ?? .reject
    }

    public init(cap: Int, onExceed: OnExceed = .reject) {
        self.cap = cap
        self.onExceed = onExceed
    }
}

/// How a request of a sandbox whose tenant has a budget is reserved: its worst case is held before it goes
/// upstream (the body's bytes bound the prompt, since no token is shorter than one byte; plus the output cap for
/// every choice), and settled to the provider's usage afterwards.
public struct SandboxBudget: Decodable, Sendable, Equatable {
    /// The output limit the router inserts when neither the body nor `max_tokens.cap` sets one, so that the worst
    /// case is bounded.
    public var defaultOutputTokens: Int
    /// Tokens reserved for each piece of prompt the body names but does not hold (an image or file by URL or id,
    /// `previous_response_id`, `conversation`, a stored `prompt`, a provider-side tool's results). nil: such
    /// requests are refused (400 `unbounded_input`), since nothing bounds what they cost.
    public var unboundedInputAllowance: Int?

    public static let defaultOutput = 4096

    enum CodingKeys: String, CodingKey {
        case defaultOutputTokens = "default_output_tokens"
        case unboundedInputAllowance = "unbounded_input_allowance"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        defaultOutputTokens = try c.decodeIfPresent(Int.self, forKey: .defaultOutputTokens) ?? Self.defaultOutput
        unboundedInputAllowance = try c.decodeIfPresent(Int.self, forKey: .unboundedInputAllowance)
    }

    public init(defaultOutputTokens: Int = SandboxBudget.defaultOutput, unboundedInputAllowance: Int? = nil) {
        self.defaultOutputTokens = defaultOutputTokens
        self.unboundedInputAllowance = unboundedInputAllowance
    }
}

/// A tenant and its token budgets, counted from upstream usage per UTC day and UTC month.
public struct TenantPolicy: Decodable, Sendable {
    public var name: String
    public var tokensPerDay: Int?
    public var tokensPerMonth: Int?

    enum CodingKeys: String, CodingKey {
        case name
        case tokensPerDay = "tokens_per_day"
        case tokensPerMonth = "tokens_per_month"
    }

    public init(name: String, tokensPerDay: Int? = nil, tokensPerMonth: Int? = nil) {
        self.name = name
        self.tokensPerDay = tokensPerDay
        self.tokensPerMonth = tokensPerMonth
    }
}
