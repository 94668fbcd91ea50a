#if canImport(Glibc)
import Glibc
#endif

/// A problem found in a decoded configuration, at a key path such as `router.listeners[0].tcp`.
public struct ConfigIssue: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String
    public var hint: String

    public init(_ path: String, _ message: String, hint: String) {
        self.path = path
        self.message = message
        self.hint = hint
    }

    public var description: String { "\(path): \(message). \(hint)" }
}

extension AirlockConfig {
    /// Every rule the types alone cannot express. An empty result means the configuration is usable.
    public func validate() -> [ConfigIssue] {
        var issues: [ConfigIssue] = []
        func add(_ path: String, _ message: String, _ hint: String) {
            issues.append(ConfigIssue(path, message, hint: hint))
        }
        if version != 1 {
            add("version", "unsupported version \(version)", "This router reads version 1; set `version: 1`.")
        }
        validateRouter(add)
        validateSandboxes(add)
        validateUpstreams(add)
        validateModels(add)
        validateRetry(add)
        validateReceipts(add)
        validateMCP(add)
        validateLedger(add)
        return issues
    }

    private func validateRouter(_ add: (String, String, String) -> Void) {
        if router.listeners.filter({ $0.role == .operator }).count > 1 {
            add("router.listeners", "more than one operator listener", "Configure one `role: operator` listener.")
        }
        if router.listeners.isEmpty {
            add("router.listeners", "no listener is configured", "Add one, e.g. `- tcp: 127.0.0.1:8443`.")
        }
        let sandboxNames = Set(sandboxes.map(\.name))
        let agentUIDs = Set(sandboxes.flatMap(\.uids))
        for (i, listener) in router.listeners.enumerated() {
            let path = "router.listeners[\(i)]"
            if let uids = listener.uids {
                if listener.role != .operator {
                    add("\(path).uids", "`uids` applies only to a `role: operator` listener", "Remove it; an agent listener maps peers through `sandboxes`.")
                } else if uids.isEmpty {
                    add("\(path).uids", "no UID may use the operator listener", "List the UIDs of the metrics scraper and probes, or remove `uids` (root and the router's own UID).")
                }
                for (j, uid) in uids.enumerated() where agentUIDs.contains(uid) {
                    add("\(path).uids[\(j)]", "UID \(uid) is also a sandbox's UID", "An agent must never read the operator listener; use a separate UID.")
                }
            }
            switch listener.kind {
            case .tcp(let host, _):
                if let why = LoopbackAddress.refusal(host) {
                    add(
                        "\(path).tcp",
                        "\(host) is not a loopback address (\(why))",
                        "The router only listens on loopback; use 127.0.0.1 or [::1]."
                    )
                }
            case .unix(let socketPath, let mode, _):
                if !socketPath.hasPrefix("/") {
                    add("\(path).unix", "\"\(socketPath)\" is not an absolute path", "Use a path such as /run/airlock/router.sock.")
                } else if socketPath.utf8.count >= 108 {
                    add("\(path).unix", "the socket path is \(socketPath.utf8.count) bytes long", "Unix socket paths must be under 108 bytes.")
                }
                if mode.rawValue & 0o007 != 0 {
                    add(
                        "\(path).mode",
                        "mode \(String(mode.rawValue, radix: 8)) lets every local user connect",
                        "Clear the `other` bits, e.g. \"0660\", and grant access with `group`."
                    )
                }
            case .inherited(let fd, let sandbox) where listener.role == .operator:
                add("\(path).fd", "an operator listener cannot be a handed-in sandbox listener (fd \(fd), sandbox \(sandbox))", "Use tcp or unix for the operator listener.")
            case .inherited(let fd, let sandbox):
                if fd < 3 {
                    add("\(path).fd", "descriptor \(fd) is stdin, stdout or stderr", "Hand the listener in as descriptor 3 or above.")
                }
                if !sandboxNames.contains(sandbox) {
                    add("\(path).sandbox", "no sandbox is named \"\(sandbox)\"", "Name one of: \(sandboxNames.sorted().joined(separator: ", ")).")
                }
            }
        }
        if let control = router.control {
            if !control.path.hasPrefix("/") || control.path.utf8.count >= 108 {
                add("router.control.path", "\"\(control.path)\" is not an absolute Unix socket path under 108 bytes", "Use e.g. /run/airlock/control.sock.")
            }
            if control.operatorUIDs.isEmpty {
                add("router.control.operator_uids", "no operator may use the control socket", "List the UIDs of the launcher, usually [0].")
            }
            for (i, uid) in control.operatorUIDs.enumerated() where agentUIDs.contains(uid) {
                add("router.control.operator_uids[\(i)]", "UID \(uid) is also a sandbox's UID", "An agent must never be an operator; use a separate UID.")
            }
        }
        for (name, address) in router.egress.resolve.sorted(by: { $0.key < $1.key }) {
            if EgressTarget.parse(authority: name, defaultPort: 443) == nil {
                add("router.egress.resolve[\"\(name)\"]", "\"\(name)\" is not a host name", "Use lowercase host names.")
            }
            if IPAddress.parse(address) == nil {
                add("router.egress.resolve[\"\(name)\"]", "\"\(address)\" is not an IP address", "Map names to IPv4 or IPv6 literals.")
            }
        }
        check(router.egress.connectTimeout, in: .milliseconds(1)...(.seconds(60)), "router.egress.connect_timeout", add)
        if !router.stateDirectory.hasPrefix("/") {
            add("router.state_directory", "\"\(router.stateDirectory)\" is not an absolute path", "Use e.g. /var/lib/airlock.")
        }
        check(router.drainTimeout, in: .milliseconds(1)...(.seconds(600)), "router.drain_timeout", add)
        let limits = router.limits
        check(limits.maxBodyBytes, in: 1...(64 << 20), "router.limits.max_body_bytes", add)
        check(limits.maxHeaderBytes, in: 1024...(1 << 20), "router.limits.max_header_bytes", add)
        check(limits.headerTimeout, in: .milliseconds(100)...(.seconds(300)), "router.limits.header_timeout", add)
        check(limits.idleTimeout, in: .seconds(1)...(.seconds(3600)), "router.limits.idle_timeout", add)
        check(limits.maxConcurrent, in: 1...100_000, "router.limits.max_concurrent", add)
        check(limits.rate, "router.limits.rate", add)
        check(limits.maxConnectionsPerPeer, in: 1...1_000_000, "router.limits.max_connections_per_peer", add)
        check(limits.unknownPeerRate, "router.limits.unknown_peer_rate", add)
        if limits.contentTypes.isEmpty {
            add("router.limits.content_types", "the list is empty, so every request would be refused", "List at least application/json.")
        }
        for (i, type) in limits.contentTypes.enumerated() where type != type.lowercased() || type.contains(";") {
            add("router.limits.content_types[\(i)]", "\"\(type)\" is not a bare lowercase media type", "Write e.g. application/json, without parameters.")
        }
    }

    private func validateSandboxes(_ add: (String, String, String) -> Void) {
        if sandboxes.isEmpty {
            add("sandboxes", "no sandbox is configured", "Every connection must map to a sandbox; add one.")
        }
        let tenantNames = Set(tenants.map(\.name))
        let modelNames = Set(models.map(\.name))
        var seen = Set<String>()
        var uidOwner: [UInt32: String] = [:]
        var gidOwner: [UInt32: String] = [:]
        for (i, sandbox) in sandboxes.enumerated() {
            let path = "sandboxes[\(i)]"
            if !Self.isName(sandbox.name) {
                add("\(path).name", "\"\(sandbox.name)\" is not a valid name", "Use 1–63 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit.")
            }
            if !seen.insert(sandbox.name).inserted {
                add("\(path).name", "the name \"\(sandbox.name)\" is used twice", "Give every sandbox its own name.")
            }
            if !tenantNames.contains(sandbox.tenant) {
                add("\(path).tenant", "no tenant is named \"\(sandbox.tenant)\"", "Add it under `tenants` or name an existing one.")
            }
            for (j, model) in sandbox.models.enumerated() where model != "*" && !modelNames.contains(model) {
                add("\(path).models[\(j)]", "no model is named \"\(model)\"", "Add it under `models` or use \"*\" for all.")
            }
            for (j, uid) in sandbox.uids.enumerated() {
                if let other = uidOwner.updateValue(sandbox.name, forKey: uid), other != sandbox.name {
                    add("\(path).uids[\(j)]", "UID \(uid) is already sandbox \"\(other)\"", "A peer UID can be one sandbox only.")
                }
            }
            for (j, gid) in sandbox.gids.enumerated() {
                if let other = gidOwner.updateValue(sandbox.name, forKey: gid), other != sandbox.name {
                    add("\(path).gids[\(j)]", "GID \(gid) is already sandbox \"\(other)\"", "A peer GID can be one sandbox only.")
                }
            }
            check(sandbox.maxConcurrent, in: 1...100_000, "\(path).max_concurrent", add)
            check(sandbox.maxChoices, in: 1...128, "\(path).max_choices", add)
            for (j, tool) in sandbox.providerTools.enumerated() where !Self.isToolType(tool) {
                add("\(path).provider_tools[\(j)]", "\"\(tool)\" is not a tool type", "Use a provider tool type such as web_search, web_fetch, code_execution or mcp.")
            }
            check(sandbox.rate, "\(path).rate", add)
            for (list, entries) in [("allow", sandbox.egress.allow), ("deny", sandbox.egress.deny)] {
                for (j, entry) in entries.enumerated() {
                    if case .failure(let error) = HostPattern.parse(entry) {
                        add("\(path).egress.\(list)[\(j)]", error.description, "Write host, host:port, host:*, *.domain[:port], an IPv4 literal or [IPv6]:port.")
                    }
                }
            }
            for (j, entry) in sandbox.egress.allowAddresses.enumerated() where IPAddress.parse(entry) == nil {
                add("\(path).egress.allow_addresses[\(j)]", "\"\(entry)\" is not an IP address", "List addresses, e.g. 10.0.0.5 or fd00::5.")
            }
            validateExposure(of: sandbox.egress, at: "\(path).egress", add)
            validateInspection(of: sandbox.egress, at: "\(path).egress", add)
            check(sandbox.egress.maxTunnels, in: 1...10_000, "\(path).egress.max_tunnels", add)
            check(sandbox.egress.idleTimeout, in: .seconds(1)...(.seconds(86_400)), "\(path).egress.idle_timeout", add)
            check(sandbox.egress.maxLifetime, in: .seconds(1)...(.seconds(86_400)), "\(path).egress.max_lifetime", add)
            if let maxTokens = sandbox.maxTokens {
                check(maxTokens.cap, in: 1...10_000_000, "\(path).max_tokens.cap", add)
            }
            check(sandbox.budget.defaultOutputTokens, in: 1...10_000_000, "\(path).budget.default_output_tokens", add)
            if let allowance = sandbox.budget.unboundedInputAllowance {
                check(allowance, in: 1...100_000_000, "\(path).budget.unbounded_input_allowance", add)
            }
        }
        var tenantSeen = Set<String>()
        for (i, tenant) in tenants.enumerated() {
            if !Self.isName(tenant.name) {
                add("tenants[\(i)].name", "\"\(tenant.name)\" is not a valid name", "Use 1–63 characters of a-z, 0-9, '.', '_' or '-'.")
            }
            if !tenantSeen.insert(tenant.name).inserted {
                add("tenants[\(i)].name", "the name \"\(tenant.name)\" is used twice", "Give every tenant its own name.")
            }
            if let day = tenant.tokensPerDay { check(day, in: 1...Int(Int64.max / 4), "tenants[\(i)].tokens_per_day", add) }
            if let month = tenant.tokensPerMonth {
                check(month, in: 1...Int(Int64.max / 4), "tenants[\(i)].tokens_per_month", add)
            }
        }
    }

    /// An allowlist that reaches what the router listens on or forwards to opens the router up to the sandbox.
    private func validateExposure(of egress: EgressPolicy, at path: String, _ add: (String, String, String) -> Void) {
        let exposures = egress.exposures(of: routerEndpoints, resolve: router.egress.resolve)
        for index in Set(exposures.map(\.entry)).sorted() {
            let reached = exposures.filter { $0.entry == index }
            var routes: [String] = []
            for exposure in reached where !routes.contains(exposure.route) { routes.append(exposure.route) }
            let reaches = routes.map { route in
                reached.filter { $0.route == route }.map(\.endpoint.description).joined(separator: "; ") + " (\(route))"
            }
            var hint = "Through the egress proxy the sandbox would connect as the router itself."
            let byAddress = reached.filter { $0.route != EgressExposure.namesUpstream }
            if !byAddress.isEmpty {
                let ports = Set(byAddress.compactMap(\.endpoint.port)).sorted().map(String.init)
                let avoid =
                    ports.isEmpty
                    ? "the port the kernel picks for a `:0` listener"
                    : "port\(ports.count == 1 ? "" : "s") \(ports.joined(separator: ", "))"
                hint += " Name the port the sandbox needs exactly (host:PORT, not host:*), keep it off \(avoid), and list"
                hint += " in allow_addresses only addresses of services meant for the sandbox."
            }
            let named = Set(reached.filter { $0.route == EgressExposure.namesUpstream }.compactMap(\.endpoint.hostName))
            if !named.isEmpty {
                hint += " Agents use an upstream through the router's model API; narrow the entry so it does not match"
                hint += " \(named.sorted().joined(separator: ", "))."
            }
            add("\(path).allow[\(index)]", "\"\(egress.allow[index])\" reaches " + reaches.joined(separator: "; "), hint)
        }
    }

    private func validateUpstreams(_ add: (String, String, String) -> Void) {
        if upstreams.isEmpty {
            add("upstreams", "no upstream is configured", "Add at least one provider endpoint.")
        }
        var seen = Set<String>()
        for (i, upstream) in upstreams.enumerated() {
            let path = "upstreams[\(i)]"
            checkEndpoint(name: upstream.name, url: upstream.baseURL, urlKey: "base_url", caFile: upstream.caFile, what: "upstream", seen: &seen, path, add)
            if upstream.kind == .azureOpenAI, upstream.apiVersion == nil {
                add("\(path).api_version", "Azure OpenAI needs an api-version", "Set e.g. `api_version: 2024-10-21`.")
            }
            if upstream.kind != .azureOpenAI, upstream.apiVersion != nil || !upstream.deployments.isEmpty {
                add("\(path)", "`api_version` and `deployments` apply to azure-openai upstreams only", "Remove them, or set `kind: azure-openai`.")
            }
            if let source = upstream.credential {
                check(source, "\(path).credential", add)
            } else if upstream.kind != .openaiCompatible {
                add("\(path).credential", "a \(upstream.kind.rawValue) upstream needs a credential", "Set `credential: {file: /etc/airlock/keys/NAME}` or `{env: VAR}`.")
            }
            check(upstream.timeouts, upstream.breaker, path, add)
        }
    }

    private func validateMCP(_ add: (String, String, String) -> Void) {
        var seen = Set<String>()
        for (i, server) in mcpServers.enumerated() {
            let path = "mcp_servers[\(i)]"
            if let stdio = server.stdio {
                checkName(server.name, what: "MCP server", seen: &seen, path, add)
                validateStdio(stdio, server: server, path, add)
            } else {
                checkEndpoint(name: server.name, url: server.url, urlKey: "url", caFile: server.caFile, what: "MCP server", seen: &seen, path, add)
            }
            if let oauth = server.oauth {
                validateOAuth(oauth, "\(path).oauth", add)
                if server.credential != nil {
                    add("\(path).oauth", "`credential` and `oauth` are both set", "Use one: a static credential header or an OAuth grant.")
                }
            }
            if let credential = server.credential {
                check(credential.source, "\(path).credential", add)
                let header = credential.header
                if !Self.isHeaderName(header) {
                    add("\(path).credential.header", "\"\(header)\" is not a header name", "Use letters, digits and '-', e.g. authorization or x-api-key.")
                } else if Self.routerSetHeaders.contains(header) {
                    add("\(path).credential.header", "\"\(header)\" is a header the router sets itself", "Name the header the server reads its credential from.")
                }
                if !credential.scheme.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
                    add("\(path).credential.scheme", "\"\(credential.scheme)\" is not one token", "Use e.g. Bearer, or \"\" for none.")
                }
            }
            check(server.timeouts, server.breaker, path, add)
            check(server.maxListBytes, in: 1024...(64 << 20), "\(path).max_list_bytes", add)
        }
        for (i, sandbox) in sandboxes.enumerated() {
            var granted = Set<String>()
            for (j, access) in sandbox.mcp.enumerated() {
                let path = "sandboxes[\(i)].mcp[\(j)]"
                if !seen.contains(access.server) {
                    let names = mcpServers.map { (server: MCPServerConfig) in server.name }.joined(separator: ", ")
                    add("\(path).server", "no MCP server is named \"\(access.server)\"", names.isEmpty ? "Configure it under `mcp_servers`." : "Name one of: \(names).")
                }
                if !granted.insert(access.server).inserted {
                    add("\(path).server", "server \"\(access.server)\" is listed twice for this sandbox", "List each server once, with all its tools.")
                }
                if access.tools.isEmpty {
                    add("\(path).tools", "the list is empty, so no tool could be used", "List tool names or patterns, or remove the entry.")
                }
                for (k, tool) in access.tools.enumerated() where tool.isEmpty || tool.utf8.count > 128 || tool.utf8.contains(where: { $0 < 0x21 || $0 == 0x7F }) {
                    add("\(path).tools[\(k)]", "\"\(tool)\" is not a tool name or pattern", "Use the tool's name, with * for any run of characters.")
                }
                for (tool, digest) in access.pins.sorted(by: { $0.key < $1.key }) {
                    if !Self.isSHA256Hex(digest) {
                        add("\(path).pins[\"\(tool)\"]", "\"\(digest)\" is not a SHA-256 digest", "Copy the 64 lowercase hex digits `tool_digest` of the tool's receipt (or the router's log) shows.")
                    }
                    if !access.allows(tool: tool) {
                        add("\(path).pins[\"\(tool)\"]", "the tool \"\(tool)\" is not allowed by `tools`, so its pin is never used", "Allow the tool, or remove the pin.")
                    }
                }
                if let rate = access.rate {
                    check(rate, "\(path).rate", add)
                }
            }
        }
    }

    private func validateModels(_ add: (String, String, String) -> Void) {
        let upstreamByName = Dictionary(upstreams.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var seen = Set<String>()
        for (i, model) in models.enumerated() {
            let path = "models[\(i)]"
            if model.name.isEmpty || model.name.count > 256 || model.name.contains(where: { $0.isWhitespace }) || model.name == "*" {
                add("\(path).name", "\"\(model.name)\" is not a usable model name", "Use the name agents send, without spaces.")
            }
            if !seen.insert(model.name).inserted {
                add("\(path).name", "the model \"\(model.name)\" is listed twice", "List each model once, with all its upstreams under `targets`.")
            }
            if model.targets.isEmpty {
                add("\(path).targets", "the model has no upstream", "List at least one `- upstream: NAME`.")
            }
            for (j, target) in model.targets.enumerated() {
                guard let upstream = upstreamByName[target.upstream] else {
                    add("\(path).targets[\(j)].upstream", "no upstream is named \"\(target.upstream)\"", "Name one of: \(upstreams.map(\.name).joined(separator: ", ")).")
                    continue
                }
                if upstream.kind.api != model.api {
                    add(
                        "\(path).targets[\(j)].upstream",
                        "upstream \"\(upstream.name)\" (\(upstream.kind.rawValue)) does not serve the \(model.api.rawValue) API",
                        "Route \(model.api.rawValue) models to \(model.api == .anthropic ? "anthropic" : "openai, azure-openai or openai-compatible") upstreams."
                    )
                }
            }
        }
    }

    private func validateRetry(_ add: (String, String, String) -> Void) {
        check(retry.attempts, in: 1...10, "retry.attempts", add)
        check(retry.base, in: .milliseconds(1)...(.seconds(60)), "retry.base", add)
        // Fixed bounds only: a range built from a configured value traps when that value is out of range.
        check(retry.cap, in: .milliseconds(1)...(.seconds(300)), "retry.cap", add)
        if retry.cap < retry.base {
            add("retry.cap", "\(retry.cap) is below retry.base (\(retry.base))", "Make retry.cap at least retry.base.")
        }
        check(retry.maxRetryAfter, in: .seconds(0)...(.seconds(600)), "retry.max_retry_after", add)
    }

    private func validateReceipts(_ add: (String, String, String) -> Void) {
        guard receipts.enabled else { return }
        if !receipts.directory.hasPrefix("/") {
            add("receipts.directory", "\"\(receipts.directory)\" is not an absolute path", "Use e.g. /var/lib/airlock/receipts.")
        }
        if receipts.origin.isEmpty || receipts.origin.utf8.count > 256
            || receipts.origin.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) {
            add("receipts.origin", "\"\(receipts.origin)\" is not a usable log origin", "Use a short name without spaces, e.g. airlock.example.com/prod-1.")
        }
        if receipts.signingKeys.isEmpty {
            add("receipts.signing_keys", "no signing key is listed", "Make one with `airlock receipts keygen --name ORIGIN --out PREFIX` and list PREFIX.key.")
        }
        for (i, key) in receipts.signingKeys.enumerated() where !key.hasPrefix("/") {
            add("receipts.signing_keys[\(i)]", "\"\(key)\" is not an absolute path", "Use the absolute path of the .key file.")
        }
        check(receipts.batchDelay, in: .milliseconds(0)...(.seconds(1)), "receipts.batch_delay", add)
        check(receipts.checkpointEvery, in: 1...10_000_000, "receipts.checkpoint_every", add)
        check(receipts.checkpointInterval, in: .milliseconds(100)...(.seconds(3600)), "receipts.checkpoint_interval", add)
        for (i, witness) in receipts.witnesses.enumerated() {
            if WitnessURL(witness.url) == nil {
                add(
                    "receipts.witnesses[\(i)].url",
                    "\"\(witness.url)\" is not an http://host:port[/path] URL",
                    "Give the witness's submission prefix, e.g. http://127.0.0.1:7380 (put a TLS proxy in front for another host)."
                )
            }
            if witness.key.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false).filter({ !$0.isEmpty }).count != 3 {
                add(
                    "receipts.witnesses[\(i)].key",
                    "\"\(witness.key)\" is not a witness key name+keyid+base64",
                    "Use the witness key printed by `airlock witness keygen` (its PREFIX.pub)."
                )
            }
        }
    }

    private func validateLedger(_ add: (String, String, String) -> Void) {
        let maxTokens = Int(Int64.max / 4)
        if let cluster = ledger.cluster {
            if ledger.backend != .postgres {
                add("ledger.cluster", "a cluster budget needs the shared ledger", "Set `ledger.backend: postgres`, or remove `ledger.cluster`.")
            }
            if cluster.tokensPerDay == nil && cluster.tokensPerMonth == nil {
                add("ledger.cluster", "neither tokens_per_day nor tokens_per_month is set", "Set one of them, or remove `ledger.cluster`.")
            }
            if let day = cluster.tokensPerDay { check(day, in: 1...maxTokens, "ledger.cluster.tokens_per_day", add) }
            if let month = cluster.tokensPerMonth { check(month, in: 1...maxTokens, "ledger.cluster.tokens_per_month", add) }
        }
        guard let pg = ledger.postgres else {
            if ledger.backend == .postgres {
                add("ledger.postgres", "`backend: postgres` needs connection settings", "Add `ledger.postgres` with at least host, database and user.")
            }
            return
        }
        if ledger.backend != .postgres {
            add("ledger.postgres", "settings for a backend that is not in use", "Set `ledger.backend: postgres`, or remove `ledger.postgres`.")
        }
        for issue in pg.connection.issues(at: "ledger.postgres") {
            add(issue.path, issue.message, issue.hint)
        }
        check(pg.lease, in: .seconds(3)...(.seconds(3600)), "ledger.postgres.lease", add)
        if pg.lease.nanoseconds / 3 < pg.connection.timeout.nanoseconds {
            add("ledger.postgres.lease", "\(pg.lease) is shorter than three database timeouts (\(pg.connection.timeout))", "A live router must be able to renew its lease; use a lease of at least three times `timeout`.")
        }
        if let allowance = pg.offlineAllowance { check(allowance, in: 1...maxTokens, "ledger.postgres.offline_allowance", add) }
    }

    private func check(_ value: Int, in range: ClosedRange<Int>, _ path: String, _ add: (String, String, String) -> Void) {
        if !range.contains(value) {
            add(path, "\(value) is out of range", "Use a value from \(range.lowerBound) to \(range.upperBound).")
        }
    }

    private func check(
        _ value: ConfigDuration,
        in range: ClosedRange<ConfigDuration>,
        _ path: String,
        _ add: (String, String, String) -> Void
    ) {
        if !range.contains(value) {
            add(path, "\(value) is out of range", "Use a duration from \(range.lowerBound) to \(range.upperBound).")
        }
    }

    private func validateOAuth(_ oauth: MCPOAuth, _ path: String, _ add: (String, String, String) -> Void) {
        if case .failure(let why) = UpstreamURL.parse(oauth.tokenURL) {
            add("\(path).token_url", why.message, why.hint)
        }
        if oauth.clientID.isEmpty || !oauth.clientID.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            add("\(path).client_id", "\"\(oauth.clientID)\" is not a client id", "Use the id the authorization server issued, printable ASCII without spaces.")
        }
        if let scope = oauth.scope, scope.isEmpty || !scope.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
            add("\(path).scope", "\"\(scope)\" is not a scope list", "Use space-separated scope names, or remove the key.")
        }
        if let secret = oauth.clientSecret { check(secret, "\(path).client_secret", add) }
        if let refresh = oauth.refreshToken { check(refresh, "\(path).refresh_token", add) }
        switch oauth.grant {
        case .clientCredentials where oauth.clientSecret == nil:
            add("\(path).client_secret", "the client_credentials grant needs a client secret", "Set `client_secret: {file: /etc/airlock/keys/NAME}`.")
        case .refreshToken where oauth.refreshToken == nil:
            add("\(path).refresh_token", "the refresh_token grant needs a refresh token", "Set `refresh_token: {file: /etc/airlock/keys/NAME}`.")
        default: break
        }
    }

    /// A local MCP server's command, sandbox and environment at `path`.
    private func validateStdio(_ stdio: MCPStdioSettings, server: MCPServerConfig, _ path: String, _ add: (String, String, String) -> Void) {
        if server.credential != nil || server.oauth != nil || server.caFile != nil {
            add(path, "a `command` server takes no `credential`, `oauth` or `ca_file`", "Give the server its credentials with `env`; the router reaches it over a pipe, not the network.")
        }
        if router.control == nil {
            add("\(path).command", "a `command` server needs the router's control socket", "Set `router.control`: the server's sandbox hands its listeners to the router through it.")
        }
        if let program = stdio.command.first {
            if !program.hasPrefix("/") {
                add("\(path).command[0]", "\"\(program)\" is not an absolute path", "Name the program by its absolute path inside the server's sandbox, e.g. /usr/bin/python3.")
            }
        } else {
            add("\(path).command", "the command is empty", "Give the program and its arguments, e.g. [/usr/bin/python3, /opt/tools/server.py].")
        }
        if stdio.command.contains(where: { $0.utf8.contains(0) }) {
            add("\(path).command", "an argument contains a NUL byte", "Remove it.")
        }
        if let sandbox = sandboxes.first(where: { $0.name == stdio.sandbox }) {
            if !sandbox.mcp.isEmpty {
                add("\(path).sandbox", "sandbox \"\(stdio.sandbox)\" is itself granted MCP servers", "Give the server a sandbox of its own without `mcp` entries, so no server reaches tools (its own included) through the router.")
            }
        } else {
            add("\(path).sandbox", "no sandbox is named \"\(stdio.sandbox)\"", "Add a `sandboxes` entry for the server (its egress allowlist) and name it here.")
        }
        if let policy = stdio.policy, !policy.hasPrefix("/") {
            add("\(path).policy", "\"\(policy)\" is not an absolute path", "Use an absolute path to a sandbox policy (JSON).")
        }
        for (name, source) in stdio.environment.sorted(by: { $0.key < $1.key }) {
            if name.isEmpty || name.first?.isNumber == true || !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) {
                add("\(path).env", "\"\(name)\" is not an environment variable name", "Use letters, digits and '_', not starting with a digit.")
            }
            check(source, "\(path).env.\(name)", add)
        }
        check(stdio.maxSessions, in: 1...1024, "\(path).max_sessions", add)
        check(stdio.idleTimeout, in: .seconds(1)...(.seconds(86_400)), "\(path).idle_timeout", add)
    }

    /// The name of an upstream or an MCP server at `path`: valid, and not used before.
    private func checkName(_ name: String, what: String, seen: inout Set<String>, _ path: String, _ add: (String, String, String) -> Void) {
        if !Self.isName(name) {
            add("\(path).name", "\"\(name)\" is not a valid name", "Use 1–63 characters of a-z, 0-9, '.', '_' or '-'.")
        }
        if !seen.insert(name).inserted {
            add("\(path).name", "the name \"\(name)\" is used twice", "Give every \(what) its own name.")
        }
    }

    /// The name, URL and CA bundle of an upstream or an MCP server at `path`.
    private func checkEndpoint(
        name: String,
        url: String,
        urlKey: String,
        caFile: String?,
        what: String,
        seen: inout Set<String>,
        _ path: String,
        _ add: (String, String, String) -> Void
    ) {
        checkName(name, what: what, seen: &seen, path, add)
        if case .failure(let why) = UpstreamURL.parse(url) {
            add("\(path).\(urlKey)", why.message, why.hint)
        }
        if let caFile, !caFile.hasPrefix("/") {
            add("\(path).ca_file", "\"\(caFile)\" is not an absolute path", "Use an absolute path to a PEM bundle.")
        }
    }

    /// `egress.inspect`: host patterns that the allow list admits, rules that parse, a credential and bundle that can be read.
    private func validateInspection(of egress: EgressPolicy, at path: String, _ add: (String, String, String) -> Void) {
        let allow = EgressRules(egress)
        for (j, entry) in egress.inspect.enumerated() {
            let at = "\(path).inspect[\(j)]"
            switch HostPattern.parse(entry.host) {
            case .failure(let error):
                add("\(at).host", error.description, "Write host, host:port or *.domain[:port], as in `allow`.")
            case .success(let pattern):
                if case .address = pattern.host {
                    add("\(at).host", "\"\(entry.host)\" is an address", "Inspection issues a certificate for a host name; name the host.")
                }
                if !allow.allow.contains(where: { $0.covers(pattern) }) {
                    add("\(at).host", "\"\(entry.host)\" is not covered by `egress.allow`", "Add it (or a pattern covering it) to `\(path).allow`: inspection narrows what the allow list admits, it never widens it.")
                }
            }
            if entry.rules.isEmpty {
                add("\(at).rules", "no rule allows any request", "Add e.g. `- {methods: [GET], paths: [\"/*\"]}`, or remove the entry to tunnel the host opaquely.")
            }
            for (k, rule) in entry.rules.enumerated() {
                if rule.methods.isEmpty {
                    add("\(at).rules[\(k)].methods", "no method is listed", "List upper-case methods such as GET, POST, or * for any.")
                }
                for (m, method) in rule.methods.enumerated() where method != "*" && !(method.utf8.allSatisfy { $0 >= 0x41 && $0 <= 0x5A } && !method.isEmpty) {
                    add("\(at).rules[\(k)].methods[\(m)]", "\"\(method)\" is not an upper-case method name", "Write methods as GET, POST, PUT, ...; or * for any.")
                }
                if rule.paths.isEmpty {
                    add("\(at).rules[\(k)].paths", "no path is listed", "List path patterns such as /repos/acme/* (or /* for every path).")
                }
                for (m, pattern) in rule.paths.enumerated() where !pattern.hasPrefix("/") || pattern.contains("?") {
                    add("\(at).rules[\(k)].paths[\(m)]", "\"\(pattern)\" is not a path pattern", "Start it with / and leave the query out; * matches any run of characters.")
                }
            }
            if let credential = entry.credential {
                check(credential.source, "\(at).credential", add)
            }
            if let caFile = entry.caFile, !caFile.hasPrefix("/") {
                add("\(at).ca_file", "\"\(caFile)\" is not an absolute path", "Use an absolute path to a PEM bundle of the host's issuers.")
            }
        }
    }

    /// Where a credential is read from, at `path` (the `credential` key).
    private func check(_ source: CredentialSource, _ path: String, _ add: (String, String, String) -> Void) {
        switch source {
        case .file(let file) where !file.hasPrefix("/"):
            add("\(path).file", "\"\(file)\" is not an absolute path", "Use an absolute path readable only by the router user.")
        case .environment(let name) where name.isEmpty || !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }):
            add("\(path).env", "\"\(name)\" is not an environment variable name", "Use letters, digits and '_'.")
        default: break
        }
    }

    /// `timeouts` and `breaker` of an upstream or an MCP server at `path`.
    private func check(_ t: UpstreamTimeouts, _ breaker: BreakerSettings, _ path: String, _ add: (String, String, String) -> Void) {
        check(t.connect, in: .milliseconds(1)...UpstreamTimeouts.Ceiling.connect, "\(path).timeouts.connect", add)
        check(t.responseHeaders, in: .milliseconds(1)...UpstreamTimeouts.Ceiling.responseHeaders, "\(path).timeouts.response_headers", add)
        check(t.idle, in: .milliseconds(1)...UpstreamTimeouts.Ceiling.idle, "\(path).timeouts.idle", add)
        check(breaker.failures, in: 1...10_000, "\(path).breaker.failures", add)
        check(breaker.window, in: .milliseconds(1)...(.seconds(3600)), "\(path).breaker.window", add)
        check(breaker.cooldown, in: .milliseconds(1)...(.seconds(3600)), "\(path).breaker.cooldown", add)
    }

    private func check(_ rate: RateSettings, _ path: String, _ add: (String, String, String) -> Void) {
        if !(rate.rps > 0 && rate.rps <= 1_000_000) {
            add("\(path).rps", "\(rate.rps) is out of range", "Use a rate above 0 and at most 1000000 per second.")
        }
        check(rate.burst, in: 1...10_000_000, "\(path).burst", add)
    }

    /// Headers the router writes on a request to an MCP server itself; a credential may not name one.
    static let routerSetHeaders: Set<String> = [
        "host", "content-length", "transfer-encoding", "connection", "mcp-session-id", "mcp-protocol-version",
        "content-type", "accept", "traceparent", "x-request-id",
    ]

    static func isHeaderName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        func ok(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x2D }
        return !bytes.isEmpty && bytes.count <= 64 && bytes.allSatisfy(ok)
    }

    static func isSHA256Hex(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        func ok(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) }
        return bytes.count == 64 && bytes.allSatisfy(ok)
    }

    static func isToolType(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        return (1...64).contains(bytes.count) && bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
    }

    static func isName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count) else { return false }
        func ok(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        return ok(bytes[0]) && bytes.allSatisfy { ok($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
    }
}
