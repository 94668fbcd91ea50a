import AirlockJSON
import AirlockPolicy
import NIOHTTP1

/// What a request asks the provider to do beyond answering it: tools the provider runs itself, MCP servers it
/// connects to, jobs it keeps running, several choices. A provider-side tool reaches hosts (or runs code) on the
/// agent's behalf, beyond the sandbox's egress policy; a background job spends tokens the router never sees. So
/// each is refused unless the sandbox's policy names it.
struct ProviderFeatures: Sendable, Equatable {
    /// `tools[i].type` of every tool that is not run by the agent itself, with its index.
    var providerTools: [(index: Int, type: String)] = []
    /// The body names MCP servers for the provider to connect to (Anthropic `mcp_servers`).
    var mcpServers = false
    /// Chat completions' `web_search_options`: the provider searches the web.
    var webSearchOptions = false
    var background = false
    var choices = 1

    static func == (a: ProviderFeatures, b: ProviderFeatures) -> Bool {
        a.providerTools.map(\.type) == b.providerTools.map(\.type) && a.providerTools.map(\.index) == b.providerTools.map(\.index)
            && a.mcpServers == b.mcpServers && a.webSearchOptions == b.webSearchOptions && a.background == b.background
            && a.choices == b.choices
    }

    /// Tool types the agent runs itself: the provider only describes a call and the agent executes it (OpenAI
    /// function and custom tools, local shell and patch tools; Anthropic client tools, untyped or `custom`, and its
    /// client-executed bash, text editor, computer and memory tools).
    static func isClientSide(_ type: String) -> Bool {
        if ["function", "custom", "local_shell", "shell", "apply_patch"].contains(type) { return true }
        return ["bash_", "text_editor_", "computer_", "memory_"].contains { type.hasPrefix($0) }
    }

    static func read(_ fields: [String: JSONScanner.Span], scanner: JSONScanner) throws(RouterError) -> ProviderFeatures {
        var features = ProviderFeatures()
        if let tools = fields["tools"], tools.kind != .null {
            guard tools.kind == .array else { throw .badRequest("invalid_field", "\"tools\" must be an array.") }
            for (i, tool) in scanner.elements(of: tools).enumerated() {
                guard tool.kind == .object else { throw .badRequest("invalid_field", "\"tools[\(i)]\" must be an object.") }
                guard let typeSpan = scanner.value(of: tool, key: "type"), typeSpan.kind != .null else { continue }
                guard let type = scanner.string(typeSpan), type.utf8.count <= 128 else {
                    throw .badRequest("invalid_field", "\"tools[\(i)].type\" must be a string of at most 128 bytes.")
                }
                if !isClientSide(type) { features.providerTools.append((i, type)) }
            }
        }
        if let servers = fields["mcp_servers"], servers.kind != .null {
            features.mcpServers = servers.kind != .array || !scanner.elements(of: servers).isEmpty
        }
        if let options = fields["web_search_options"], options.kind != .null {
            features.webSearchOptions = true
        }
        if let background = fields["background"], background.kind != .null {
            guard let value = scanner.bool(background) else { throw .badRequest("invalid_field", "\"background\" must be true or false.") }
            features.background = value
        }
        if let n = fields["n"], n.kind != .null {
            guard let value = scanner.integer(n), value >= 1 else { throw .badRequest("invalid_field", "\"n\" must be a positive integer.") }
            features.choices = value
        }
        return features
    }

    /// The refusal for the first feature `policy` does not allow, or nil. `headers` are the agent's.
    func refusal(policy: SandboxPolicy, headers: HTTPHeaders) -> RouterError? {
        let sandbox = policy.name
        func allowed(_ type: String) -> Bool {
            policy.providerTools.contains { type == $0 || type.hasPrefix($0 + "_") }
        }
        func tool(_ field: String, _ what: String) -> RouterError {
            RouterError(
                status: 403,
                reason: "provider_tool_not_allowed",
                message: "\(field) asks the provider to run \(what) for you, which reaches beyond sandbox \"\(sandbox)\"'s egress policy; "
                    + "its provider_tools do not allow it."
            )
        }
        if background {
            return .badRequest(
                "background_not_allowed",
                "\"background\": true runs the request as a provider-side job whose usage the router cannot account; sandbox \"\(sandbox)\" does not allow it."
            )
        }
        if choices > policy.maxChoices {
            return .badRequest("too_many_choices", "\"n\" is \(choices); sandbox \"\(sandbox)\" allows at most \(policy.maxChoices).")
        }
        let betas = headers[canonicalForm: "anthropic-beta"].map(String.init).filter { !$0.isEmpty }
        let allowedBetas = policy.anthropicBetas ?? SandboxPolicy.defaultAnthropicBetas
        if let beta = betas.first(where: { !allowedBetas.contains($0) }) {
            return RouterError(
                status: 403,
                reason: "beta_not_allowed",
                message: "anthropic-beta \"\(beta.prefix(128))\" is not allowed for sandbox \"\(sandbox)\" (its anthropic_betas)."
            )
        }
        if let (index, type) = providerTools.first(where: { !allowed($0.type) }) {
            return tool("tools[\(index)].type \"\(type)\"", "a tool")
        }
        if mcpServers && !allowed("mcp") {
            return tool("mcp_servers", "MCP servers")
        }
        if webSearchOptions && !allowed("web_search") {
            return tool("web_search_options", "a web search")
        }
        return nil
    }
}
