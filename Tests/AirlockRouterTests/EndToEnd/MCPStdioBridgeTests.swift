#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy
import AirlockTestSupport
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import AirlockRouter

/// The bridge of a local MCP server on its own: real processes (a stand-in launcher that runs the command as it is,
/// and a line-oriented JSON-RPC server in Python), real HTTP. The sandbox itself is tested end to end in
/// AirlockEndToEndTests (SandboxRouterTests).
@Suite("MCP stdio bridge", .timeLimit(.minutes(1)))
struct MCPStdioBridgeTests {
    static let canRun = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")

    /// Answers `initialize` (with its pid), `env` (its TOKEN variable), `chatty` (a notification, then the answer),
    /// `pid`, `slow` (after `params.seconds`), and exits on `exit` without answering.
    static let server = """
        import json, os, sys, time
        for line in sys.stdin:
            m = json.loads(line)
            if "id" not in m or "method" not in m:
                continue
            method = m["method"]
            result = {}
            if method == "initialize":
                result = {"protocolVersion": "2025-06-18", "capabilities": {}, "serverInfo": {"name": "fake", "version": "1"}, "pid": os.getpid()}
            elif method == "env":
                result = {"token": os.environ.get("TOKEN")}
            elif method == "pid":
                result = {"pid": os.getpid()}
            elif method == "chatty":
                print(json.dumps({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "working"}}), flush=True)
            elif method == "slow":
                time.sleep(m["params"]["seconds"])
            elif method == "exit":
                sys.exit(0)
            print(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": result}), flush=True)
        """

    struct Fixture {
        let bridge: StdioBridge
        let client: HTTPClient
        var url: String { "http://127.0.0.1:\(bridge.port)\(StdioBridge.path)" }

        func post(_ body: String, session: String? = nil, secret: String? = nil) async throws
            -> (status: Int, session: String?, type: String, body: String)
        {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "authorization", value: "Bearer \(secret ?? bridge.secret)")
            request.headers.add(name: "content-type", value: "application/json")
            if let session { request.headers.add(name: "mcp-session-id", value: session) }
            request.body = .bytes(ByteBuffer(string: body))
            let response = try await client.execute(request, timeout: .seconds(20))
            let text = try await response.body.collect(upTo: 1 << 20)
            return (
                Int(response.status.code), response.headers.first(name: "mcp-session-id"),
                response.headers.first(name: "content-type") ?? "", String(buffer: text)
            )
        }

        func delete(_ session: String) async throws -> Int {
            var request = HTTPClientRequest(url: url)
            request.method = .DELETE
            request.headers.add(name: "authorization", value: "Bearer \(bridge.secret)")
            request.headers.add(name: "mcp-session-id", value: session)
            return Int(try await client.execute(request, timeout: .seconds(20)).status.code)
        }

        func initialize() async throws -> String {
            let answer = try await post(#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#)
            #expect(answer.status == 200, "\(answer)")
            return try #require(answer.session)
        }

        func shutdown() async throws {
            await bridge.shutdown()
            try await client.shutdown()
        }
    }

    static func start(maxSessions: Int = 2, idle: ConfigDuration = .seconds(60)) throws -> Fixture {
        let directory = TempDirectory.make()
        try TempDirectory.write(directory + "/server.py", server, mode: 0o644)
        // Runs what follows "--", as airlock run would inside the sandbox.
        try TempDirectory.write(
            directory + "/launcher", "#!/bin/sh\nwhile [ \"$#\" -gt 0 ] && [ \"$1\" != -- ]; do shift; done\nshift\nexec \"$@\"\n",
            mode: 0o755)
        let launch = StdioLaunch(
            binary: directory + "/launcher", control: directory + "/control.sock",
            settings: MCPStdioSettings(
                command: ["/usr/bin/python3", directory + "/server.py"], sandbox: "tools", maxSessions: maxSessions,
                idleTimeout: idle),
            uid: nil, gid: nil, environment: ["TOKEN": "bridge-secret-token"])
        let bridge = try StdioBridge(
            name: "fake", launch: launch, group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test"))
        let client = HTTPClient(eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton))
        return Fixture(bridge: bridge, client: client)
    }

    /// Runs `body` with a fixture and shuts it down however `body` ends: a client left running traps when it goes.
    static func withFixture(
        maxSessions: Int = 2, idle: ConfigDuration = .seconds(60), _ body: (Fixture) async throws -> Void
    ) async throws {
        let f = try start(maxSessions: maxSessions, idle: idle)
        do {
            try await body(f)
        } catch {
            try? await f.shutdown()
            throw error
        }
        try await f.shutdown()
    }

    @Test("without the router's secret (none, a guess, one character off) every request is 401", .enabled(if: canRun))
    func secretRequired() async throws {
        try await Self.withFixture { (f: Fixture) async throws in
            let initialize = #"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#
            #expect(try await f.post(initialize, secret: "guess").status == 401)
            // One character off: the last one replaced by another (a secret ending in "0" once got "0" back, and 200).
            let offByOne = String(f.bridge.secret.dropLast()) + (f.bridge.secret.last == "0" ? "1" : "0")
            #expect(try await f.post(initialize, secret: offByOne).status == 401)
            var bare = HTTPClientRequest(url: f.url)
            bare.method = .POST
            bare.body = .bytes(ByteBuffer(string: initialize))
            #expect(try await f.client.execute(bare, timeout: .seconds(10)).status == .unauthorized)
            #expect(f.bridge.workdir.hasPrefix("/"))
        }
    }

    @Test("a session is a process: its answers, its credential, SSE when it speaks first, 202 for a notification, DELETE ends it, then 404", .enabled(if: canRun))
    func session() async throws {
        var workdir = ""
        try await Self.withFixture { (f: Fixture) async throws in
            let session = try await f.initialize()
            let env = try await f.post(#"{"jsonrpc":"2.0","id":"e","method":"env"}"#, session: session)
            #expect(env.status == 200 && env.type == "application/json" && env.body.contains(#""token": "bridge-secret-token""#), "\(env)")
            let chatty = try await f.post(#"{"jsonrpc":"2.0","id":7,"method":"chatty"}"#, session: session)
            #expect(chatty.type == "text/event-stream", "\(chatty)")
            #expect(chatty.body.contains("notifications/message") && chatty.body.contains(#""id": 7"#), "\(chatty)")
            let note = try await f.post(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, session: session)
            #expect(note.status == 202)
            // Without a session only initialize is accepted; an unknown session is 404.
            #expect(try await f.post(#"{"jsonrpc":"2.0","id":1,"method":"env"}"#).status == 400)
            #expect(try await f.post(#"{"jsonrpc":"2.0","id":1,"method":"env"}"#, session: "nope").status == 404)
            let pid = try await f.post(#"{"jsonrpc":"2.0","id":2,"method":"pid"}"#, session: session)
            let number = try #require(pid.body.split(separator: ":").last.flatMap { Int32($0.filter(\.isNumber)) })
            #expect(try await f.delete(session) == 200)
            #expect(kill(number, 0) != 0, "the server process outlived its session")
            #expect(try await f.post(#"{"jsonrpc":"2.0","id":3,"method":"env"}"#, session: session).status == 404)
            var info = stat()
            #expect(stat(f.bridge.workdir, &info) == 0 && info.st_mode & 0o777 == 0o555)
            workdir = f.bridge.workdir
        }
        #expect(access(workdir, F_OK) != 0, "the working directory outlived the bridge")
    }

    @Test("max_sessions processes at once (503 beyond); a process that exits frees its place and its session is 404", .enabled(if: canRun))
    func limits() async throws {
        try await Self.withFixture(maxSessions: 1) { (f: Fixture) async throws in
            let first = try await f.initialize()
            let refused = try await f.post(#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#)
            #expect(refused.status == 503 && refused.session == nil)
            let exited = try await f.post(#"{"jsonrpc":"2.0","id":9,"method":"exit"}"#, session: first)
            #expect(exited.status == 502, "\(exited)")
            var status = 0
            for _ in 0..<50 {
                status = try await f.post(#"{"jsonrpc":"2.0","id":1,"method":"env"}"#, session: first).status
                if status == 404 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(status == 404)
            _ = try await f.initialize()
        }
    }

    @Test("an idle session ends with its process", .enabled(if: canRun))
    func idle() async throws {
        // Nothing but initialize, whose answer names the process: a request after it would have to come within
        // idle_timeout, which a loaded machine (a whole test run on two cores) does not promise.
        try await Self.withFixture(idle: .seconds(3)) { (f: Fixture) async throws in
            let opened = try await f.post(#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#)
            let session = try #require(opened.session, "\(opened)")
            let number = try #require(
                opened.body.split(separator: ":").last.flatMap { Int32($0.filter(\.isNumber)) }, "\(opened)")
            try await Task.sleep(for: .seconds(10))
            #expect(try await f.post(#"{"jsonrpc":"2.0","id":3,"method":"env"}"#, session: session).status == 404)
            #expect(kill(number, 0) != 0, "the idle session's process is still running")
        }
    }

    @Test("idle time runs from the last answer too: a session whose answer took longer than the idle time is not ended when it comes", .enabled(if: canRun))
    func idleAfterSlowAnswer() async throws {
        // The sweep is called here, not waited for: the answer takes 6 s, the sweep ends sessions idle for 5 s, so
        // the answer alone must keep the session (counted from the request it would be gone).
        try await Self.withFixture(idle: .seconds(3600)) { (f: Fixture) async throws in
            let session = try await f.initialize()
            let slow = try await f.post(#"{"jsonrpc":"2.0","id":1,"method":"slow","params":{"seconds":6}}"#, session: session)
            #expect(slow.status == 200, "\(slow)")
            f.bridge.endIdle(after: .seconds(5))
            let next = try await f.post(#"{"jsonrpc":"2.0","id":2,"method":"env"}"#, session: session)
            #expect(next.status == 200, "the session ended as its answer came: \(next)")
        }
    }
}
