import AirlockPolicy
import AirlockTestSupport
import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Testing

@testable import AirlockRouter

#if canImport(Glibc)
    import Glibc
#endif

/// The MCP gateway over real sockets, against a scripted MCP server whose bytes the test writes by hand (pieces
/// sent 300 ms apart, so the router reads them in separate bursts).
@Suite("MCP gateway end to end", .timeLimit(.minutes(1)))
struct MCPGatewayTests {
    static let secret = "mcp-router-secret-1"

    /// A harness with an MCP server `tools` on `port`, allowed to the sandbox with `tools` and `pins`.
    static func configure(
        port: Int, tools: [String] = ["echo", "add"], maxListBytes: Int = MCPServerConfig.defaultMaxListBytes
    )
        -> (inout AirlockConfig, String) throws -> Void
    {
        { config, directory in
            try TempDirectory.write(directory + "/mcp.key", secret, mode: 0o600)
            config.mcpServers = [
                MCPServerConfig(
                    name: "tools",
                    url: "http://127.0.0.1:\(port)/mcp",
                    credential: MCPCredential(source: .file(directory + "/mcp.key")),
                    timeouts: UpstreamTimeouts(connect: .seconds(5), responseHeaders: .seconds(10), idle: .seconds(10)),
                    maxListBytes: maxListBytes
                )
            ]
            config.sandboxes[0].mcp = [MCPAccess(server: "tools", tools: tools)]
        }
    }

    static func chunk(_ text: String) -> [UInt8] {
        Array("\(String(text.utf8.count, radix: 16))\r\n\(text)\r\n".utf8)
    }

    /// The server's answer to `initialize`, opening session-7.
    static let opening = Array(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nmcp-session-id: session-7\r\ncontent-length: 36\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}"
            .utf8)

    /// Opens session-7 for the harness's sandbox, as an SDK's `initialize` does.
    static func openSession(_ h: Harness) async throws {
        let opened = try await h.request(
            "/mcp/tools",
            body:
                #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#
        )
        #expect(opened.status == 200 && opened.headers.first(name: "mcp-session-id") == "session-7")
    }

    static let eventStreamHead = Array(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nmcp-session-id: session-7\r\nset-cookie: s=1\r\nwww-authenticate: Bearer\r\ntransfer-encoding: chunked\r\n\r\n"
            .utf8
    )

    @Test(
        "the agent's credentials never reach the server; the router's does; an event stream split across reads is filtered; the session is carried"
    )
    func relayAndFilter() async throws {
        let list =
            #"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo","inputSchema":{}},{"name":"drop_db","inputSchema":{}},{"name":"add","inputSchema":{}}]}}"#
        let split = list.utf8.count / 2
        let server = ScriptedUpstream(pieces: { n in
            n == 0
                ? [Self.opening]
                : [
                    Self.eventStreamHead + Self.chunk("event: message\r\ndata: " + String(list.prefix(split))),
                    Self.chunk(String(list.dropFirst(split)) + "\r\n\r\n") + Array("0\r\n\r\n".utf8),
                ]
        })
        defer { server.stop() }
        try await withHarness(configure: Self.configure(port: server.port)) { h in
            try await Self.openSession(h)
            let r = try await h.request(
                "/mcp/tools",
                body: #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
                headers: [
                    ("content-type", "application/json"), ("accept", "application/json, text/event-stream"),
                    ("authorization", "Bearer agent-token"), ("cookie", "c=agent"), ("x-api-key", "agent-key"),
                    ("mcp-session-id", "session-7"), ("mcp-protocol-version", "2025-06-18"),
                ]
            )
            #expect(r.status == 200)
            #expect(r.headers.first(name: "mcp-session-id") == "session-7")
            #expect(r.headers.first(name: "set-cookie") == nil && r.headers.first(name: "www-authenticate") == nil)
            #expect(r.body.contains(#""name":"echo""#) && r.body.contains(#""name":"add""#))
            #expect(!r.body.contains("drop_db"))
            #expect(r.body.hasPrefix("event: message\ndata: {"))
            let seen = try #require(server.received.last)
            #expect(seen.contains("authorization: bearer \(Self.secret)"))
            #expect(!seen.contains("agent-token") && !seen.contains("c=agent") && !seen.contains("agent-key"))
            #expect(seen.contains("mcp-session-id: session-7") && seen.contains("mcp-protocol-version: 2025-06-18"))
            #expect(seen.hasPrefix("post /mcp http/1.1"))
        }
    }

    @Test(
        "an MCP session is honoured only from the sandbox it was issued to; an id the router did not see issued, or one ended, is 404 and never reaches the server"
    )
    func sessionsBoundToSandbox() async throws {
        let server = ScriptedUpstream { _ in
            let body = #"{"jsonrpc":"2.0","id":1,"result":{}}"#
            return
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nmcp-session-id: session-7\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        defer { server.stop() }
        let (fd, otherPort) = Loopback.listener()
        let configure = Self.configure(port: server.port)
        try await withHarness(configure: { c, directory in
            try configure(&c, directory)
            c.sandboxes.append(
                SandboxPolicy(
                    name: "other", tenant: Harness.tenant, models: ["embed-test"],
                    mcp: [MCPAccess(server: "tools", tools: ["*"])]))
            c.router.listeners.append(ListenerConfig(kind: .inherited(fd: fd, sandbox: "other")))
        }) { h in
            let list = #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#
            let initialize =
                #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#
            let opened = try await h.request("/mcp/tools", body: initialize)
            #expect(opened.status == 200 && opened.headers.first(name: "mcp-session-id") == "session-7")
            #expect(server.requests == 1)

            // Another sandbox presenting that session id (learnt from a log, a shared file, a guess) is refused.
            let other = try RawSocket(port: otherPort)
            other.send(
                "POST /mcp/tools HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nmcp-session-id: session-7\r\nconnection: close\r\ncontent-length: \(list.utf8.count)\r\n\r\n\(list)"
            )
            let (stolen, _) = try await offPool { other.readAll() }
            #expect(stolen.hasPrefix("HTTP/1.1 404"), "\(stolen)")
            #expect(stolen.contains("mcp_session_not_found"))
            let forged = try await h.request("/mcp/tools", body: list, headers: [("content-type", "application/json"), ("mcp-session-id", "session-8")])
            #expect(forged.status == 404 && forged.body.contains("mcp_session_not_found"))
            #expect(server.requests == 1)

            let own = try await h.request(
                "/mcp/tools", body: list, headers: [("content-type", "application/json"), ("mcp-session-id", "session-7")])
            #expect(own.status == 200)
            let ended = try await h.request(.DELETE, "/mcp/tools", headers: [("mcp-session-id", "session-7")])
            #expect(ended.status == 200)
            #expect(server.requests == 3)
            let after = try await h.request(
                "/mcp/tools", body: list, headers: [("content-type", "application/json"), ("mcp-session-id", "session-7")])
            #expect(after.status == 404)
            #expect(server.requests == 3)
        }
    }

    @Test("a forbidden call and a batch are refused without reaching the server")
    func refusals() async throws {
        let server = ScriptedUpstream { _ in "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n" }
        defer { server.stop() }
        try await withHarness(configure: Self.configure(port: server.port)) { h in
            let call = try await h.request(
                "/mcp/tools",
                body: #"{"jsonrpc":"2.0","id":"c1","method":"tools/call","params":{"name":"drop_db","arguments":{}}}"#)
            #expect(call.status == 200)
            #expect(
                call.body.contains(#""id":"c1","error":{"code":-32001"#) && call.body.contains("mcp_tool_not_allowed"))
            let batch = try await h.request(
                "/mcp/tools", body: #"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}]"#)
            #expect(batch.status == 400 && batch.body.contains("mcp_batch_refused"))
            let other = try await h.request("/mcp/elsewhere", body: #"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
            #expect(other.status == 404)
            #expect(server.requests == 0)
        }
    }

    @Test(
        "a tools/list answer framed with CR line ends is filtered; one the router cannot read (duplicate members) never reaches the agent",
        arguments: [
            ("text/event-stream", "event: message\rdata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[{\"name\":\"echo\",\"inputSchema\":{}},{\"name\":\"drop_db\",\"inputSchema\":{}}]}}\r\r", true),
            ("application/json", "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[]},\"result\":{\"tools\":[{\"name\":\"drop_db\",\"inputSchema\":{}}]}}", false),
            ("text/event-stream", "data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[]},\"result\":{\"tools\":[{\"name\":\"drop_db\",\"inputSchema\":{}}]}}\n\n", false),
        ]
    )
    func unreadableOrOddList(contentType: String, body: String, readable: Bool) async throws {
        let server = ScriptedUpstream { _ in
            "HTTP/1.1 200 OK\r\ncontent-type: \(contentType)\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        defer { server.stop() }
        try await withHarness(configure: Self.configure(port: server.port)) { h in
            let answer = try? await h.request("/mcp/tools", body: #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
            if readable {
                let text = try #require(answer?.body)
                #expect(text.contains(#""name":"echo""#), "\(text.debugDescription)")
                #expect(!text.contains("drop_db"), "\(text.debugDescription)")
            } else {
                // The answer is cut: an SDK sees a failed request, never the tools behind the duplicate member.
                #expect(answer.map { !$0.body.contains("drop_db") } ?? true, "\(answer?.body.debugDescription ?? "")")
            }
            #expect(server.requests == 1)
        }
    }

    @Test("a tools/list answer past max_list_bytes is cut, not buffered")
    func listCap() async throws {
        let tools = (0..<100).map {
            #"{"name":"echo\#($0)","description":"\#(String(repeating: "x", count: 64))","inputSchema":{}}"#
        }
        let body = #"{"jsonrpc":"2.0","id":1,"result":{"tools":[\#(tools.joined(separator: ","))]}}"#
        let server = ScriptedUpstream { _ in
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        defer { server.stop() }
        try await withHarness(configure: Self.configure(port: server.port, tools: ["*"], maxListBytes: 1024)) { h in
            await #expect(throws: (any Error).self) {
                _ = try await h.request("/mcp/tools", body: #"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
            }
            #expect(server.requests == 1)
        }
    }

    @Test("a GET stream is relayed; DELETE ends a session at the server; DELETE elsewhere is 405")
    func methods() async throws {
        let server = ScriptedUpstream(pieces: { n in
            switch n {
            case 0: [Self.opening]
            case 1:
                [
                    Self.eventStreamHead
                        + Self.chunk("data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n"),
                    Array("0\r\n\r\n".utf8),
                ]
            default: [Array("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".utf8)]
            }
        })
        defer { server.stop() }
        try await withHarness(configure: Self.configure(port: server.port)) { h in
            try await Self.openSession(h)
            let stream = try await h.request(
                .GET, "/mcp/tools", headers: [("accept", "text/event-stream"), ("mcp-session-id", "session-7")])
            #expect(stream.status == 200 && stream.body.contains("list_changed"))
            let ended = try await h.request(.DELETE, "/mcp/tools", headers: [("mcp-session-id", "session-7")])
            #expect(ended.status == 200)
            let received = server.received
            #expect(received.count == 3)
            #expect(received.dropFirst().first?.hasPrefix("get /mcp http/1.1") == true)
            #expect(
                received.last?.hasPrefix("delete /mcp http/1.1") == true
                    && received.last?.contains("content-length") == false)
            let refused = try await h.request(.DELETE, "/v1/chat/completions", headers: [])
            #expect(refused.status == 405)
        }
    }
}
