import Foundation
import Testing

@testable import AirlockPolicy

/// `mcp_servers` and `sandboxes[].mcp`: what loads, and every mistake refused with its key path and a hint.
@Suite("MCP gateway configuration")
struct MCPConfigTests {
    static let valid =
        AirlockConfigTests.valid.replacingOccurrences(
            of: "    models: [\"gpt\"]\n",
            with: """
                    models: ["gpt"]
                    mcp:
                      - server: tickets
                        tools: ["search_*", "get_issue"]
                        pins: {get_issue: "\(String(repeating: "ab", count: 32))"}
                        rate: {rps: 5, burst: 10}

                """) + """

            mcp_servers:
              - name: tickets
                url: https://tickets.example.com/mcp
                credential: {file: /etc/airlock/tickets}
              - name: local
                url: http://127.0.0.1:9000/mcp
                credential: {env: LOCAL_TOKEN, header: x-api-key}
              - name: hosted
                url: https://code.example.com/mcp
                oauth:
                  token_url: https://auth.example.com/oauth/token
                  grant: client_credentials
                  client_id: airlock-router
                  client_secret: {file: /etc/airlock/hosted.secret}
                  scope: "repo:read"
            """

    func load(_ text: String) throws -> LoadedConfig {
        try ConfigLoader.load(text: text, path: "test.yaml")
    }

    @Test("servers and a sandbox's access load with their defaults")
    func loads() throws {
        let config = try load(Self.valid).config
        #expect(config.mcpServers.map(\.name) == ["tickets", "local", "hosted"])
        #expect(
            config.mcpServers[2].oauth
                == MCPOAuth(
                    tokenURL: "https://auth.example.com/oauth/token", grant: .clientCredentials,
                    clientID: "airlock-router",
                    clientSecret: .file("/etc/airlock/hosted.secret"), scope: "repo:read"
                )
        )
        #expect(
            config.mcpServers[0].credential
                == MCPCredential(source: .file("/etc/airlock/tickets"), header: "authorization", scheme: "Bearer"))
        #expect(
            config.mcpServers[1].credential
                == MCPCredential(source: .environment("LOCAL_TOKEN"), header: "x-api-key", scheme: ""))
        #expect(config.mcpServers[0].maxListBytes == MCPServerConfig.defaultMaxListBytes)
        let access = try #require(config.sandboxes[0].mcpAccess("tickets"))
        #expect(
            access.allows(tool: "search_issues") && access.allows(tool: "get_issue")
                && !access.allows(tool: "delete_issue"))
        #expect(config.sandboxes[0].mcpAccess("local") == nil)
    }

    @Test(
        "refuses mistakes with the key path",
        arguments: [
            ("server: tickets", "server: nowhere", "sandboxes[0].mcp[0].server"),
            ("tools: [\"search_*\", \"get_issue\"]", "tools: []", "sandboxes[0].mcp[0].tools"),
            ("tools: [\"search_*\", \"get_issue\"]", "tools: [\"search_*\"]", "sandboxes[0].mcp[0].pins: "),
            (String(repeating: "ab", count: 32), "ABC", "sandboxes[0].mcp[0].pins: "),
            ("https://tickets.example.com/mcp", "http://tickets.example.com/mcp", "mcp_servers[0].url"),
            ("name: local", "name: tickets", "mcp_servers[1].name"),
            ("header: x-api-key", "header: mcp-session-id", "mcp_servers[1].credential.header"),
            ("header: x-api-key", "header: \"x api\"", "mcp_servers[1].credential.header"),
            ("{file: /etc/airlock/tickets}", "{file: tickets.key}", "mcp_servers[0].credential.file"),
            ("{file: /etc/airlock/tickets}", "{file: /a, env: B}", "mcp_servers[0].credential"),
            ("rate: {rps: 5, burst: 10}", "rate: {rps: 0, burst: 10}", "sandboxes[0].mcp[0].rate.rps"),
            ("grant: client_credentials", "grant: refresh_token", "mcp_servers[2].oauth.refresh_token"),
            ("grant: client_credentials", "grant: password", "mcp_servers[2].oauth.grant"),
            (
                "https://auth.example.com/oauth/token", "http://auth.example.com/oauth/token",
                "mcp_servers[2].oauth.token_url"
            ),
            ("client_id: airlock-router", "client_id: \"\"", "mcp_servers[2].oauth.client_id"),
            (
                "scope: \"repo:read\"", "scope: \"repo:read\"\n    credential: {file: /etc/airlock/x}",
                "mcp_servers[2].oauth"
            ),
            (
                "tools: [\"search_*\", \"get_issue\"]", "tools: [\"search_*\", \"get_issue\"]\n        toolz: [\"x\"]",
                "toolz"
            ),
        ])
    func refused(find: String, replace: String, path: String) {
        let text = Self.valid.replacingOccurrences(of: find, with: replace)
        #expect(text != Self.valid)
        #expect { try load(text) } throws: { "\($0)".contains(path) }
    }

    /// `valid` with a local server `git` run in the sandbox `toolbox`, and the control socket it needs.
    static let stdio =
        valid.replacingOccurrences(
            of: "  state_directory: /var/lib/airlock\n",
            with: "  state_directory: /var/lib/airlock\n  control: {path: /run/airlock/control.sock}\n"
        ).replacingOccurrences(
            of: "upstreams:\n",
            with: """
                  - name: toolbox
                    tenant: team
                    uids: [480001]
                    models: []
                    egress: {allow: ["api.github.com:443"]}
                upstreams:

                """
        ) + """

              - name: git
                command: [/usr/bin/python3, /opt/tools/git_server.py, --stdio]
                sandbox: toolbox
                policy: /etc/airlock/git-server.json
                env: {GITHUB_TOKEN: {file: /etc/airlock/github.token}, GIT_AUTHOR: {env: ROUTER_GIT_AUTHOR}}
                max_sessions: 4
                idle_timeout: 2m
            """

    @Test("a command server loads: its command, sandbox, policy, credentials and session limits")
    func stdioLoads() throws {
        let config = try load(Self.stdio).config
        let server = try #require(config.mcpServers.first { $0.name == "git" })
        #expect(server.url == "")
        #expect(
            server.stdio
                == MCPStdioSettings(
                    command: ["/usr/bin/python3", "/opt/tools/git_server.py", "--stdio"], sandbox: "toolbox",
                    policy: "/etc/airlock/git-server.json",
                    environment: [
                        "GITHUB_TOKEN": .file("/etc/airlock/github.token"), "GIT_AUTHOR": .environment("ROUTER_GIT_AUTHOR"),
                    ],
                    maxSessions: 4, idleTimeout: .seconds(120)))
        #expect(config.mcpServers.first { $0.name == "tickets" }?.stdio == nil)
    }

    @Test(
        "refuses a command server's mistakes with the key path",
        arguments: [
            ("command: [/usr/bin/python3, /opt/tools/git_server.py, --stdio]", "command: []", "mcp_servers[3].command"),
            ("command: [/usr/bin/python3,", "command: [python3,", "mcp_servers[3].command[0]"),
            ("sandbox: toolbox", "sandbox: nowhere", "mcp_servers[3].sandbox"),
            // The server's sandbox may not itself reach MCP servers through the router.
            ("sandbox: toolbox", "sandbox: agent", "mcp_servers[3].sandbox"),
            ("policy: /etc/airlock/git-server.json", "policy: git-server.json", "mcp_servers[3].policy"),
            ("{GITHUB_TOKEN:", "{\"GITHUB TOKEN\":", "mcp_servers[3].env"),
            ("{file: /etc/airlock/github.token}", "{file: github.token}", "mcp_servers[3].env.GITHUB_TOKEN.file"),
            ("max_sessions: 4", "max_sessions: 0", "mcp_servers[3].max_sessions"),
            ("idle_timeout: 2m", "idle_timeout: 0s", "mcp_servers[3].idle_timeout"),
            ("  control: {path: /run/airlock/control.sock}\n", "", "mcp_servers[3].command"),
            ("sandbox: toolbox", "sandbox: toolbox\n    url: http://127.0.0.1:9/mcp", "exactly one of `url` or `command`"),
            ("sandbox: toolbox", "sandbox: toolbox\n    credential: {file: /etc/airlock/x}", "mcp_servers[3]: "),
            ("url: https://tickets.example.com/mcp", "url: https://tickets.example.com/mcp\n    sandbox: toolbox", "sandbox"),
        ])
    func stdioRefused(find: String, replace: String, path: String) {
        let text = Self.stdio.replacingOccurrences(of: find, with: replace)
        #expect(text != Self.stdio)
        #expect { try load(text) } throws: { "\($0)".contains(path) }
    }
}
