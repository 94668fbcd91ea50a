/// The whole configuration of one Airlock router, as loaded from one YAML file.
///
/// Every key is documented in `docs/configuration.md`; `policies/airlock.yaml` is the annotated example.
public struct AirlockConfig: Decodable, Sendable {
    /// Format version of the file; only `1` exists.
    public var version: Int
    public var router: RouterSettings
    /// The sandboxes (agent identities) this router serves.
    public var sandboxes: [SandboxPolicy]
    /// Tenants own token budgets; every sandbox belongs to one.
    public var tenants: [TenantPolicy]
    /// Where the tenants' budgets are kept (the journal unless told otherwise).
    public var ledger: LedgerSettings
    public var upstreams: [UpstreamConfig]
    /// The models agents may name, each routed to an ordered list of upstreams.
    public var models: [ModelRoute]
    public var retry: RetrySettings
    /// Required: a router without a receipt log must say `receipts: {enabled: false}`.
    public var receipts: ReceiptSettings
    /// Remote MCP servers served to sandboxes at `/mcp/<name>`.
    public var mcpServers: [MCPServerConfig]

    enum CodingKeys: String, CodingKey {
        case version, router, sandboxes, tenants, ledger, upstreams, models, retry, receipts
        case mcpServers = "mcp_servers"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decode(Int.self, forKey: .version)
        router = try c.decode(RouterSettings.self, forKey: .router)
        sandboxes = try c.decode([SandboxPolicy].self, forKey: .sandboxes)
        tenants = try c.decodeIfPresent([TenantPolicy].self, forKey: .tenants) ?? []
        ledger = try c.decodeIfPresent(LedgerSettings.self, forKey: .ledger) ?? LedgerSettings()
        upstreams = try c.decode([UpstreamConfig].self, forKey: .upstreams)
        models = try c.decode([ModelRoute].self, forKey: .models)
        retry = try c.decodeIfPresent(RetrySettings.self, forKey: .retry) ?? RetrySettings()
        receipts = try c.decode(ReceiptSettings.self, forKey: .receipts)
        mcpServers = try c.decodeIfPresent([MCPServerConfig].self, forKey: .mcpServers) ?? []
    }

    public init(
        version: Int = 1,
        router: RouterSettings,
        sandboxes: [SandboxPolicy],
        tenants: [TenantPolicy] = [],
        ledger: LedgerSettings = LedgerSettings(),
        upstreams: [UpstreamConfig],
        models: [ModelRoute],
        retry: RetrySettings = RetrySettings(),
        receipts: ReceiptSettings = .disabled,
        mcpServers: [MCPServerConfig] = []
    ) {
        self.version = version
        self.router = router
        self.sandboxes = sandboxes
        self.tenants = tenants
        self.ledger = ledger
        self.upstreams = upstreams
        self.models = models
        self.retry = retry
        self.receipts = receipts
        self.mcpServers = mcpServers
    }
}
