#if canImport(Glibc)
import Glibc
#endif
import AirlockMockUpstream
import AirlockTestSupport
import Foundation
import NIOCore
import Testing

/// The `airlock router` process as operators run it: signals, restarts, privileges, exit codes.
@Suite("Router process", .timeLimit(.minutes(2)))
struct RouterProcessTests {
    struct Stack {
        let directory: String
        let config: String
        let mock: MockUpstreamServer
    }

    static func stack(routerPort: Int, extra: String = "", dayBudget: Int = 1_000_000, user: String? = nil) async throws -> Stack {
        let directory = TempDirectory.make()
        chmod(directory, 0o755)
        let key = "sk-proc-\(UInt64.random(in: 0...UInt64.max))"
        try TempDirectory.write(directory + "/provider.key", key, mode: 0o600)
        let mock = try await MockUpstreamServer.start(
            MockUpstreamConfiguration(requiredKey: key, chunkCount: 10, chunkDelay: .milliseconds(150))
        )
        let config = """
            version: 1
            router:
              listeners:
                - tcp: 127.0.0.1:\(routerPort)
              state_directory: \(directory)/state
              drain_timeout: 10s
            \(extra)
            tenants:
              - name: team
                tokens_per_day: \(dayBudget)
            sandboxes:
              - name: agent
                tenant: team
                uids: [\(getuid())]
                models: ["gpt-test"]
            upstreams:
              - name: mock
                kind: openai-compatible
                base_url: http://127.0.0.1:\(mock.port)
                credential: {file: \(directory)/provider.key}
            models:
              - name: gpt-test
                api: openai
                targets: [{upstream: mock}]
            receipts: {enabled: false}
            """
        try TempDirectory.write(directory + "/airlock.yaml", config, mode: 0o644)
        return Stack(directory: directory, config: directory + "/airlock.yaml", mock: mock)
    }


    /// Starts `airlock router` and returns it with the port its first listener got (configs ask for port 0,
    /// so parallel tests never race for a port).
    static func startRouter(_ stack: Stack, _ extra: [String] = ["--allow-root"]) async throws -> AirlockProcess {
        try await startRouterWithPort(stack, extra).process
    }

    static func startRouterWithPort(_ stack: Stack, _ extra: [String] = ["--allow-root"]) async throws -> (process: AirlockProcess, port: Int) {
        // The router writes its ready file after dropping privileges, so the folder must be writable by that user.
        let run = stack.directory + "/run"
        mkdir(run, 0o777)
        chmod(run, 0o777)
        let ready = run + "/ready-\(UInt32.random(in: 0...UInt32.max)).json"
        let router = try AirlockProcess(["router", "--config", stack.config, "--ready-file", ready, "--log-level", "error"] + extra)
        let text = try await router.waitForFile(ready)
        // {"listeners":["127.0.0.1:PORT",...],...}
        let first = text.split(separator: "\"").dropFirst(3).first ?? ""
        return (router, Int(first.split(separator: ":").last ?? "") ?? 0)
    }

    static func chatBody(stream: Bool = false) -> String {
        #"{"model":"gpt-test","stream":\#(stream),"messages":[{"role":"user","content":"a b c d"}]}"#
    }

    static func chat(_ port: Int, stream: Bool = false) async throws -> String {
        let body = chatBody(stream: stream)
        return try await offPool {
            let socket = try RawSocket(port: port, timeoutSeconds: 10)
            socket.send("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)")
            return socket.readAll().text
        }
    }

    @Test("SIGTERM: stops accepting, lets the in-flight stream finish, exits 0")
    func sigtermDrains() async throws {
        let stack = try await Self.stack(routerPort: 0)
        let (router, port) = try await Self.startRouterWithPort(stack)
        async let inFlight = Self.chat(port, stream: true)
        try await Task.sleep(for: .milliseconds(400))
        router.signal(SIGTERM)
        try await Task.sleep(for: .milliseconds(200))
        let refused = await Task { try? RawSocket(port: port, timeoutSeconds: 1) }.value
        #expect(refused == nil, "the router still accepted connections after SIGTERM")
        let text = try await inFlight
        #expect(text.hasPrefix("HTTP/1.1 200"))
        #expect(text.contains("data: [DONE]"))
        #expect(try await router.waitForExit() == 0)
        try await stack.mock.shutdown()
    }

    @Test("budget usage survives SIGKILL and restart")
    func budgetSurvivesKill() async throws {
        // The worst case of a request (its bytes, 1,024, the 4,096 output tokens inserted) fits after 28 tokens
        // but not after 42: the third request is served only if the first two's 28 survived.
        let stack = try await Self.stack(routerPort: 0, dayBudget: Self.chatBody().utf8.count + 1_024 + 4_096 + 41)
        let (first, port) = try await Self.startRouterWithPort(stack)
        for _ in 0..<2 {
            #expect(try await Self.chat(port).hasPrefix("HTTP/1.1 200"))  // 4 + 10 tokens each
        }
        first.signal(SIGKILL)
        _ = try await first.waitForExit()
        let (second, secondPort) = try await Self.startRouterWithPort(stack)
        #expect(try await Self.chat(secondPort).hasPrefix("HTTP/1.1 200"))
        let refused = try await Self.chat(secondPort)
        #expect(refused.hasPrefix("HTTP/1.1 429"))
        #expect(refused.contains("budget_exceeded"))
        second.signal(SIGTERM)
        #expect(try await second.waitForExit() == 0)
        try await stack.mock.shutdown()
    }

    @Test("SIGTERM or SIGHUP the instant the ready file appears (a supervisor's stop or reload right after start): a clean exit 0, or a router still serving")
    func termRightAfterReady() async throws {
        let stack = try await Self.stack(routerPort: 0)
        let run = stack.directory + "/run"
        mkdir(run, 0o777)
        chmod(run, 0o777)
        for round in 0..<12 {
            let ready = run + "/ready-\(round).json"
            let router = try AirlockProcess(["router", "--config", stack.config, "--ready-file", ready, "--log-level", "error", "--allow-root"])
            let pid = router.pid
            // Polled without sleeping, so the signal lands as close to the file's appearance as a supervisor's would.
            let seen = try await offPool { () -> Bool in
                let deadline = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < deadline {
                    if access(ready, F_OK) == 0 {
                        kill(pid, round % 2 == 0 ? SIGTERM : SIGHUP)
                        return true
                    }
                    if kill(pid, 0) != 0 { return false }
                }
                return false
            }
            try #require(seen, "round \(round): the ready file never appeared: \(router.standardError())")
            if round % 2 == 1 {
                // A reload: the router goes on serving.
                let port = Int(try String(contentsOfFile: ready, encoding: .utf8).split(separator: "\"").dropFirst(3).first?.split(separator: ":").last ?? "") ?? 0
                let answer = try await offPool {
                    let socket = try RawSocket(port: port, timeoutSeconds: 10)
                    socket.send("GET /v1/models HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                    return socket.readAll().text
                }
                #expect(answer.hasPrefix("HTTP/1.1 200"), "round \(round): after SIGHUP: \(answer.prefix(80))")
                router.signal(SIGTERM)
            }
            let status = try await router.waitForExit()
            #expect(
                router.process.terminationReason == .exit && status == 0,
                "round \(round): \(router.process.terminationReason == .exit ? "exit status" : "killed by signal") \(status)"
            )
        }
        try await stack.mock.shutdown()
    }

    @Test("the router's own upstream calls ignore proxy environment variables (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, either case)")
    func proxyVariablesIgnored() async throws {
        let stack = try await Self.stack(routerPort: 0)
        let ready = stack.directory + "/ready.json"
        // Port 9 (discard) on loopback: nothing listens, so a request sent through the proxy would fail.
        var environment = ProcessInfo.processInfo.environment
        for name in ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"] {
            environment[name] = "http://127.0.0.1:9"
            environment[name.lowercased()] = "http://127.0.0.1:9"
        }
        environment["NO_PROXY"] = nil
        environment["no_proxy"] = nil
        let router = try AirlockProcess(
            ["router", "--config", stack.config, "--ready-file", ready, "--log-level", "error", "--allow-root"], environment: environment)
        let text = try await router.waitForFile(ready)
        let port = Int(text.split(separator: "\"").dropFirst(3).first?.split(separator: ":").last ?? "") ?? 0
        let answer = try await Self.chat(port)
        #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer.prefix(200))")
        #expect(stack.mock.requestCount == 1)
        router.signal(SIGTERM)
        #expect(try await router.waitForExit() == 0)
        try await stack.mock.shutdown()
    }

    @Test("a ready file that cannot be written stops the router with exit 1 and says which file")
    func unwritableReadyFile() async throws {
        let stack = try await Self.stack(routerPort: 0)
        let ready = stack.directory + "/no-such-folder/ready.json"
        let result = try await AirlockProcess.runToEnd(["router", "--config", stack.config, "--ready-file", ready, "--log-level", "error", "--allow-root"])
        #expect(result.status == 1)
        #expect(result.error.contains("cannot write --ready-file \(ready)"), "\(result.error)")
        try await stack.mock.shutdown()
    }

    @Test("SIGKILL mid-stream: the open reservation is charged at start-up, the settled request once, nothing twice")
    func reservationSurvivesKill() async throws {
        let stack = try await Self.stack(routerPort: 0)
        let (first, port) = try await Self.startRouterWithPort(stack)
        let settled = try await offPool {
            let body = #"{"model":"gpt-test","max_completion_tokens":20,"messages":[{"role":"user","content":"a b c d"}]}"#
            let socket = try RawSocket(port: port, timeoutSeconds: 10)
            socket.send("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)")
            return socket.readAll().text
        }
        #expect(settled.hasPrefix("HTTP/1.1 200"))  // 4 + 10 tokens
        let stream = #"{"model":"gpt-test","stream":true,"max_completion_tokens":20,"messages":[{"role":"user","content":"a b c d"}]}"#
        let socket = try RawSocket(port: port, timeoutSeconds: 10)
        let seen = try await offPool {
            socket.send("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: \(stream.utf8.count)\r\n\r\n\(stream)")
            return socket.readUntil("data:")
        }
        #expect(seen.contains("data:"))
        first.signal(SIGKILL)
        _ = try await first.waitForExit()
        // The stream's worst case: its body's bytes, 1,024 for what providers add, 20 output tokens.
        let reservation = stream.utf8.count + 1_024 + 20
        let journal = stack.directory + "/state/budget.journal"
        for _ in 0..<2 {
            let (router, _) = try await Self.startRouterWithPort(stack)
            let text = try String(contentsOfFile: journal, encoding: .utf8)
            #expect(text.split(separator: "\n").count == 1, "\(text)")
            #expect(text.hasSuffix(",\"tenant\":\"team\",\"tokens\":\(14 + reservation)}\n"), "\(text)")
            router.signal(SIGTERM)
            #expect(try await router.waitForExit() == 0)
        }
        try await stack.mock.shutdown()
    }

    @Test("as root without --user or --allow-root the router refuses to serve", .enabled(if: getuid() == 0, "only root can be refused for being root"))
    func refusesRoot() async throws {
        let stack = try await Self.stack(routerPort: 0)
        let router = try AirlockProcess(["router", "--config", stack.config])
        #expect(try await router.waitForExit() == 1)
        let message = router.standardError()
        #expect(message.contains("as root") && message.contains("--user"))
        try await stack.mock.shutdown()
    }

    @Test("--user drops every UID and GID after binding and reading the root-only key", .enabled(if: getuid() == 0, "dropping privileges needs root"))
    func dropsPrivileges() async throws {
        let stack = try await Self.stack(routerPort: 0)
        let (router, port) = try await Self.startRouterWithPort(stack, ["--user", "nobody"])
        // Every thread, the main thread parked by libdispatch included, carries only the target identity.
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(router.pid)/task")
        #expect(tasks.count > 2)
        for tid in tasks {
            let status = try String(contentsOfFile: "/proc/\(router.pid)/task/\(tid)/status", encoding: .utf8)
            func field(_ name: String) -> [String] {
                status.split(separator: "\n").first { $0.hasPrefix(name) }.map {
                    $0.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().map(String.init)
                } ?? []
            }
            #expect(field("Uid:") == ["65534", "65534", "65534", "65534"], "thread \(tid)")
            #expect(field("Gid:") == ["65534", "65534", "65534", "65534"], "thread \(tid)")
            #expect(field("Groups:") == ["65534"], "thread \(tid)")
            #expect(field("CapEff:") == ["0000000000000000"], "thread \(tid)")
        }
        let root = geteuid()
        #expect(root == 0)
        // The key file stays root-only and unreadable to the router now; requests still carry the key it read.
        #expect(try await Self.chat(port).hasPrefix("HTTP/1.1 200"))
        router.signal(SIGTERM)
        #expect(try await router.waitForExit() == 0)
        try await stack.mock.shutdown()
    }

    @Test("policy check exits 0 on a good file and 1 with file:line:column on a bad one")
    func policyCheck() async throws {
        let stack = try await Self.stack(routerPort: 0)
        let good = try AirlockProcess(["policy", "check", stack.config])
        #expect(try await good.waitForExit() == 0)
        let badPath = stack.directory + "/bad.yaml"
        let text = try String(contentsOfFile: stack.config, encoding: .utf8).replacingOccurrences(of: "drain_timeout", with: "drain_timeuot")
        try TempDirectory.write(badPath, text, mode: 0o644)
        let bad = try AirlockProcess(["policy", "check", badPath])
        #expect(try await bad.waitForExit() == 1)
        let message = bad.standardError()
        #expect(message.contains("bad.yaml:6:3") && message.contains("drain_timeuot") && message.contains("drain_timeout"))
        try await stack.mock.shutdown()
    }
}
