import NIOHTTP1

/// Which headers cross the router, in each direction. Both directions are allowlists: anything not named
/// here is dropped, so a new credential-bearing header is never forwarded by accident.
enum HeaderPolicy {
    /// Agent → upstream. Never `authorization`, `api-key`, `x-api-key`, `cookie`, `openai-organization`,
    /// `openai-project` (they would choose whose account pays) or hop-by-hop headers.
    static let requestAllowed: Set<String> = [
        "content-type", "accept", "user-agent", "anthropic-version", "anthropic-beta", "openai-beta",
        "idempotency-key",
    ]

    /// Upstream → agent. Never `set-cookie`, `www-authenticate`, or anything that could carry a credential.
    static let responseAllowed: Set<String> = [
        "content-type", "cache-control", "retry-after", "openai-processing-ms", "openai-version", "request-id",
        "x-request-id",
    ]
    static let responseAllowedPrefixes = ["x-ratelimit-", "anthropic-ratelimit-"]

    /// The inbound headers on `allowed` (``requestAllowed`` for model calls), names lowercased.
    static func forwardRequest(_ inbound: HTTPHeaders, allowed: Set<String> = requestAllowed) -> HTTPHeaders {
        var out = HTTPHeaders()
        for (name, value) in inbound where allowed.contains(name.lowercased()) {
            out.add(name: name.lowercased(), value: value)
        }
        return out
    }

    /// Agent → MCP server: the Streamable HTTP transport's own headers, never a credential or a cookie (the
    /// MCP specification forbids passing the client's token through).
    static let mcpRequestAllowed: Set<String> = [
        "content-type", "accept", "user-agent", "mcp-session-id", "mcp-protocol-version", "last-event-id",
    ]

    /// MCP server → agent. Never `www-authenticate`: the server's authorization is the router's business.
    static let mcpResponseAllowed: Set<String> = ["content-type", "cache-control", "mcp-session-id", "mcp-protocol-version"]

    static func isResponseAllowed(_ name: String) -> Bool {
        let lower = name.lowercased()
        return responseAllowed.contains(lower) || responseAllowedPrefixes.contains { lower.hasPrefix($0) }
    }
}
