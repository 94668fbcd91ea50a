#if canImport(Glibc)
import Glibc
#endif
import AirlockMockUpstream
import AirlockTestSupport
import Foundation
import NIOCore
import Testing

/// `airlock run` together with a real `airlock router` process: listeners made inside the sandbox's network
/// namespace are handed to the router over the control socket, and the worker reaches the model API and its
/// allowlisted egress through them, and nothing else.
@Suite("Sandbox with router", .timeLimit(.minutes(2)), .serialized)
struct SandboxRouterTests {
    static let canRun = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/curl")

    struct Stack {
        let directory: String
        let router: AirlockProcess
        let mock: MockUpstreamServer
        /// What the sandbox may reach through the egress proxy, on its own port: never the upstream's.
        let origin: MockUpstreamServer
    }

    /// `mcpPort`: an MCP server `tools` on that loopback port, granted to the sandbox (tools `echo` and `add`), with
    /// the router's credential `mcp.key`.
    /// `stdio`: the local MCP server `local` (tests/python/mcp_stdio_server.py), launched by the router in the
    /// sandbox `toolbox` (UID 480001) with `TOOL_TOKEN` from `tool.token`, granted to the sandbox (all its tools but
    /// `forbidden`).
    static func start(mcpPort: Int? = nil, stdio: Bool = false) async throws -> Stack {
        let directory = TempDirectory.make()
        chmod(directory, 0o755)
        let key = "sk-sandbox-\(UInt64.random(in: 0...UInt64.max))"
        try TempDirectory.write(directory + "/provider.key", key, mode: 0o600)
        let mock = try await MockUpstreamServer.start(MockUpstreamConfiguration(requiredKey: key))
        let origin = try await MockUpstreamServer.start(MockUpstreamConfiguration())
        var mcpAccess = ""
        var mcpServers = ""
        if let mcpPort {
            try TempDirectory.write(directory + "/mcp.key", "mcp-router-token", mode: 0o600)
            mcpAccess = "\n    mcp: [{server: tools, tools: [echo, add]}]"
            mcpServers = "\nmcp_servers:\n  - {name: tools, url: \"http://127.0.0.1:\(mcpPort)/mcp\", credential: {file: \(directory)/mcp.key}}"
        }
        var toolbox = ""
        var receipts = "receipts: {enabled: false}"
        if stdio {
            try TempDirectory.write(directory + "/tool.token", "tool-secret-\(UInt64.random(in: 0...UInt64.max))", mode: 0o600)
            let venvRoot = URL(fileURLWithPath: Self.agentVenv).deletingLastPathComponent().path
            try TempDirectory.write(directory + "/tools.json", """
                {"readonlyPaths": ["\(venvRoot)", "\(Self.packageRoot)/tests/python"], "seccompProfile": "\(Self.packageRoot)/policies/seccomp/agent-strict.json"}
                """, mode: 0o644)
            mcpAccess = "\n    mcp: [{server: local, tools: [add, secret_digest, whoami, fetch]}]"
            let key = try await AirlockProcess.runToEnd([
                "receipts", "keygen", "--name", "router.test/receipts", "--out", directory + "/log",
            ])
            #expect(key.status == 0, "\(key.error)")
            receipts = "receipts: {directory: \(directory)/receipts, origin: router.test/receipts, signing_keys: [\(directory)/log.key]}"
            toolbox = """

                  - name: toolbox
                    tenant: team
                    uids: [480001]
                    models: []
                    egress: {allow: ["allowed.test:\(origin.port)"], allow_addresses: [127.0.0.1]}
                """
            mcpServers = """

                mcp_servers:
                  - name: local
                    command: ["\(Self.agentVenv)/bin/python", "\(Self.packageRoot)/tests/python/mcp_stdio_server.py"]
                    sandbox: toolbox
                    policy: \(directory)/tools.json
                    env: {TOOL_TOKEN: {file: \(directory)/tool.token}}
                    max_sessions: 2
                """
        }
        let config = """
            version: 1
            router:
              listeners:
                - tcp: 127.0.0.1:0
              control: {path: \(directory)/control.sock, operator_uids: [0]}
              state_directory: \(directory)/state
              egress:
                resolve: {allowed.test: 127.0.0.1, denied.test: 127.0.0.1}
            tenants: [{name: team}]
            sandboxes:
              - name: worker
                tenant: team
                uids: [480000]
                models: ["gpt-test"]
                egress: {allow: ["allowed.test:\(origin.port)"], allow_addresses: [127.0.0.1]}\(mcpAccess)\(toolbox)
            upstreams:
              - {name: mock, kind: openai-compatible, base_url: "http://127.0.0.1:\(mock.port)", credential: {file: \(directory)/provider.key}}
            models:
              - {name: gpt-test, api: openai, targets: [{upstream: mock}]}
            \(receipts)\(mcpServers)
            """
        try TempDirectory.write(directory + "/airlock.yaml", config, mode: 0o644)
        let router = try await RouterProcessTests.startRouter(
            RouterProcessTests.Stack(directory: directory, config: directory + "/airlock.yaml", mock: mock)
        )
        mkdir(directory + "/work", 0o755)
        chown(directory + "/work", 480_000, 480_000)
        return Stack(directory: directory, router: router, mock: mock, origin: origin)
    }

    static func run(_ stack: Stack, control: String? = nil, policy: String? = nil, _ script: String) async throws
        -> (Int32, String, String)
    {
        let process = try AirlockProcess(
            (policy.map { ["run", "--policy", $0] } ?? ["run"]) + [
                "--sandbox", "worker", "--control", control ?? stack.directory + "/control.sock",
                "--uid", "480000", "--gid", "480000", "--workdir", stack.directory + "/work", "--", "/bin/sh", "-c", script,
            ],
            captureOutput: true
        )
        let status = try await process.waitForExit(seconds: 60)
        return (status, process.standardOutput(), process.standardError())
    }

    @Test("inside the sandbox: the model API and an allowlisted host work through the handed-in listeners; a denied host and a direct connection fail", .enabled(if: canRun, "needs root (namespaces, UID switch) and curl"))
    func throughTheRouter() async throws {
        let stack = try await Self.start()
        let mockPort = stack.mock.port
        let originPort = stack.origin.port
        let (status, out, err) = try await Self.run(stack, """
            echo "models=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8443/v1/models)"
            echo "chat=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' -d '{"model":"gpt-test","messages":[{"role":"user","content":"x"}]}' http://127.0.0.1:8443/v1/chat/completions)"
            echo "allowed=$(curl -s -o /dev/null -w '%{http_code}' http://allowed.test:\(originPort)/__mock/health)"
            echo "denied=$(curl -s -o /dev/null -w '%{http_code}' http://denied.test:\(originPort)/__mock/health)"
            echo "upstream=$(curl -s -o /dev/null -w '%{http_code}' http://allowed.test:\(mockPort)/__mock/requests)"
            env -u http_proxy -u HTTP_PROXY -u https_proxy -u HTTPS_PROXY curl -s -m 3 -o /dev/null http://127.0.0.1:\(mockPort)/__mock/health; echo "direct_exit=$?"
            env -u http_proxy -u HTTP_PROXY curl -s -m 3 -o /dev/null http://1.1.1.1/; echo "outside_exit=$?"
            """)
        #expect(status == 0, "\(err)")
        #expect(out.contains("models=200"))
        #expect(out.contains("chat=200"))
        #expect(out.contains("allowed=200"))
        #expect(out.contains("denied=403"))
        // The upstream's port is not the allowlisted one: its recorded requests (with the key) stay out of reach.
        #expect(out.contains("upstream=403"))
        // curl exit 7: could not connect (the worker's network namespace has only lo; Landlock limits ports).
        #expect(out.contains("direct_exit=7"))
        #expect(out.contains("outside_exit=7"))
        let seen = stack.mock.recordedRequests()
        #expect(seen.filter { $0.path == "/v1/chat/completions" }.count == 1)
        stack.router.signal(SIGTERM)
        #expect(try await stack.router.waitForExit() == 0)
        try await stack.mock.shutdown()
        try await stack.origin.shutdown()
    }

    /// The agent virtual environment `make test` and `make demo` install (scripts/install-agent-venv.sh): Debian's
    /// Python with the official SDKs, where the sandbox's view can show it.
    static let agentVenv = ProcessInfo.processInfo.environment["AGENT_VENV"] ?? "/opt/airlock-demo/venv"
    static let packageRoot = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let hasAgentVenv = FileManager.default.isExecutableFile(atPath: agentVenv + "/bin/python")

    @Test("programs an agent runs work in the allowlisted view: a C compiler, git, pip into the workdir, Python with the official SDK through the router",
          .enabled(if: canRun && hasAgentVenv, "needs root and the agent virtual environment (make test installs it with scripts/install-agent-venv.sh)"))
    func agentPrograms() async throws {
        let stack = try await Self.start()
        let venvRoot = URL(fileURLWithPath: Self.agentVenv).deletingLastPathComponent().path
        let policy = stack.directory + "/sandbox.json"
        try TempDirectory.write(policy, """
            {"readonlyPaths": ["\(venvRoot)"], "seccompProfile": "\(Self.packageRoot)/policies/seccomp/agent-strict.json"}
            """, mode: 0o644)
        let python = Self.agentVenv + "/bin/python"
        let (status, out, err) = try await Self.run(stack, policy: policy, """
            set -e
            printf 'int main(void) { return 42; }\n' > hello.c && cc -o hello hello.c
            ./hello || echo "cc=$?"
            git init -q repo && cd repo && echo a > a && git add a && git -c user.email=a@b -c user.name=a commit -qm init
            echo "git=$(git log --oneline | wc -l)" && cd ..
            \(python) -c '
            import base64, hashlib, zipfile
            def digest(data): return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip(chr(61))
            files = {"mini/__init__.py": b"VALUE = 42\\n",
                     "mini-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: mini\\nVersion: 1.0\\n",
                     "mini-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: airlock-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
            record = "".join("%s,sha256=%s,%d\\n" % (name, digest(data), len(data)) for name, data in files.items())
            with zipfile.ZipFile("mini-1.0-py3-none-any.whl", "w") as wheel:
                for name, data in files.items(): wheel.writestr(name, data)
                wheel.writestr("mini-1.0.dist-info/RECORD", record + "mini-1.0.dist-info/RECORD,,\\n")
            '
            \(python) -m pip install -q --no-index --disable-pip-version-check --target site mini-1.0-py3-none-any.whl
            PYTHONPATH=site \(python) -c 'import mini; print("pip=%d" % mini.VALUE)'
            \(python) -c '
            import anthropic, openai
            reply = openai.OpenAI().chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "hi"}])
            print("openai=" + reply.choices[0].finish_reason)
            '
            """)
        #expect(status == 0, "\(out)\n\(err)")
        #expect(out.contains("cc=42"), "\(out)\n\(err)")
        #expect(out.contains("git=1"), "\(out)\n\(err)")
        #expect(out.contains("pip=42"), "\(out)\n\(err)")
        #expect(out.contains("openai=stop"), "\(out)\n\(err)")
        #expect(stack.mock.recordedRequests().filter { $0.path == "/v1/chat/completions" }.count == 1)
        stack.router.signal(SIGTERM)
        _ = try await stack.router.waitForExit()
        try await stack.mock.shutdown()
        try await stack.origin.shutdown()
    }

    @Test("inside the sandbox the official MCP SDK lists and calls a tool through the router, which holds the server's token",
          .enabled(if: canRun && hasAgentVenv, "needs root and the agent virtual environment (make test installs it with scripts/install-agent-venv.sh)"))
    func mcpTool() async throws {
        let port = Loopback.freePort()
        let log = TempDirectory.make() + "/tools.log"
        let server = Process()
        server.executableURL = URL(fileURLWithPath: Self.agentVenv + "/bin/python")
        server.arguments = [Self.packageRoot + "/tests/python/mcp_server.py", "--port", String(port), "--log", log]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { server.terminate() }
        var listening = false
        for _ in 0..<200 where !listening {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            listening = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            close(fd)
            if !listening { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(listening, "the MCP server did not listen within 20 s")
        let stack = try await Self.start(mcpPort: port)
        let (status, out, err) = try await Self.run(stack, policy: try Self.venvPolicy(stack), """
            \(Self.agentVenv)/bin/python -c '
            import asyncio
            from mcp import ClientSession
            from mcp.client.streamable_http import streamablehttp_client
            async def main():
                async with streamablehttp_client("http://127.0.0.1:8443/mcp/tools", headers={"Authorization": "Bearer agent-guess"}) as (read, write, _):
                    async with ClientSession(read, write) as session:
                        await session.initialize()
                        print("tools=" + ",".join(tool.name for tool in (await session.list_tools()).tools))
                        print("add=" + (await session.call_tool("add", {"a": 2, "b": 40})).content[0].text)
            asyncio.run(main())
            '
            """)
        #expect(status == 0, "\(out)\n\(err)")
        #expect(out.contains("tools=echo,add"), "\(out)\n\(err)")
        #expect(out.contains("add=42"), "\(out)\n\(err)")
        let seen = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(seen.contains("\"tool\": \"add\""))
        #expect(seen.contains("Bearer mcp-router-token") && !seen.contains("agent-guess"))
        stack.router.signal(SIGTERM)
        _ = try await stack.router.waitForExit()
        try await stack.mock.shutdown()
        try await stack.origin.shutdown()
    }

    @Test("a local (stdio) MCP server runs in a sandbox of its own: the agent's official SDK lists and calls its tools through the router, a forbidden tool is refused, its credential reaches only the server, and DELETE ends its process",
          .enabled(if: canRun && hasAgentVenv, "needs root and the agent virtual environment (make test installs it with scripts/install-agent-venv.sh)"))
    func mcpStdioServer() async throws {
        let stack = try await Self.start(stdio: true)
        let token = try String(contentsOfFile: stack.directory + "/tool.token", encoding: .utf8)
        let (status, out, err) = try await Self.run(stack, policy: try Self.venvPolicy(stack), """
            \(Self.agentVenv)/bin/python -c '
            import asyncio, os
            from mcp import ClientSession
            from mcp.client.streamable_http import streamablehttp_client
            async def main():
                async with streamablehttp_client("http://127.0.0.1:8443/mcp/local") as (read, write, session_id):
                    async with ClientSession(read, write) as session:
                        await session.initialize()
                        print("tools=" + ",".join(sorted(tool.name for tool in (await session.list_tools()).tools)))
                        print("add=" + (await session.call_tool("add", {"a": 2, "b": 40})).content[0].text)
                        print("digest=" + (await session.call_tool("secret_digest", {})).content[0].text)
                        who = await session.call_tool("whoami", {"probe_path": os.getcwd(), "host": "127.0.0.1", "port": \(stack.mock.port)})
                        print("who=" + who.content[0].text)
                        try:
                            result = await session.call_tool("forbidden", {})
                            print("forbidden=ran:" + str(result.content))
                        except Exception as error:
                            print("forbidden=refused:" + str(error)[:200])
                        print("session=" + str(session_id()))
                print("agent_env=" + ("set" if "TOOL_TOKEN" in os.environ else "unset"))
                try:
                    open("\(stack.directory)/tool.token").read()
                    print("agent_file=read")
                except OSError:
                    print("agent_file=refused")
            asyncio.run(main())
            '
            """)
        #expect(status == 0, "\(out)\n\(err)\nrouter: \(stack.router.standardErrorSoFar())")
        #expect(out.contains("tools=add,fetch,secret_digest,whoami"), "\(out)\n\(err)")
        #expect(out.contains("add=42"), "\(out)\n\(err)")
        // The server got the credential; the agent has neither the variable nor the file.
        let digest = try await offPool {
            try Spawn.run(Self.agentVenv + "/bin/python", [
                "-c", "import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], \"rb\").read()).hexdigest())",
                stack.directory + "/tool.token",
            ], environment: [:]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(digest.count == 64)
        #expect(out.contains("digest=\(digest)"), "\(out)\n\(err)")
        #expect(out.contains("agent_env=unset"), "\(out)\n\(err)")
        #expect(out.contains("agent_file=refused"), "\(out)\n\(err)")
        // Its own sandbox: its own UID, no view of the agent's workdir, no direct network.
        #expect(out.contains("who=uid=480001 sees=no reached=no"), "\(out)\n\(err)")
        #expect(out.contains("forbidden=refused:") && out.contains("is not allowed for sandbox"), "\(out)\n\(err)")
        #expect(!out.contains(token))
        // The SDK ended its session with DELETE on leaving: the server's process is gone.
        var running = Self.processes(containing: "mcp_stdio_server.py")
        for _ in 0..<50 where !running.isEmpty {
            try await Task.sleep(for: .milliseconds(100))
            running = Self.processes(containing: "mcp_stdio_server.py")
        }
        #expect(running.isEmpty, "server processes still running: \(running)")
        stack.router.signal(SIGTERM)
        _ = try await stack.router.waitForExit()
        // Every call has its `mcp` receipt, the refused one a denial naming the tool.
        let exported = try await AirlockProcess.runToEnd(["receipts", "export", stack.directory + "/receipts", "--kind", "mcp"])
        let records = exported.output.split(separator: "\n").map(String.init)
        #expect(records.contains { $0.contains("\"tool\":\"add\"") && $0.contains("\"server\":\"local\"") }, "\(exported)")
        #expect(records.contains { $0.contains("\"tool\":\"forbidden\"") && $0.contains("\"decision\":\"deny\"") }, "\(exported)")
        #expect(records.contains { $0.contains("\"method\":\"session_end\"") }, "\(exported)")
        #expect(!exported.output.contains(token))
        try await stack.mock.shutdown()
        try await stack.origin.shutdown()
    }

    @Test("a local MCP server's sessions are processes of their own: at most max_sessions at once (503 beyond), and one ending leaves another's egress through the router working",
          .enabled(if: canRun && hasAgentVenv, "needs root and the agent virtual environment (make test installs it with scripts/install-agent-venv.sh)"))
    func mcpStdioSessions() async throws {
        let stack = try await Self.start(stdio: true)
        let allowed = "http://allowed.test:\(stack.origin.port)/__mock/health"
        let (status, out, err) = try await Self.run(stack, policy: try Self.venvPolicy(stack), """
            \(Self.agentVenv)/bin/python -c '
            import asyncio, json, urllib.error, urllib.request
            from contextlib import AsyncExitStack
            from mcp import ClientSession
            from mcp.client.streamable_http import streamablehttp_client
            URL = "http://127.0.0.1:8443/mcp/local"
            async def open_session(stack):
                read, write, _ = await stack.enter_async_context(streamablehttp_client(URL))
                session = await stack.enter_async_context(ClientSession(read, write))
                await session.initialize()
                return session
            def third():
                body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}).encode()
                request = urllib.request.Request(URL, data=body, headers={"content-type": "application/json", "accept": "application/json, text/event-stream"})
                try:
                    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=20) as response:
                        return str(response.status)
                except urllib.error.HTTPError as error:
                    return str(error.code)
            async def main():
                async with AsyncExitStack() as b_stack:
                    b = await open_session(b_stack)
                    async with AsyncExitStack() as a_stack:
                        a = await open_session(a_stack)
                        print("a_fetch=" + (await a.call_tool("fetch", {"url": "\(allowed)"})).content[0].text)
                        print("third=" + await asyncio.to_thread(third))
                    await asyncio.sleep(1)
                    print("b_fetch=" + (await b.call_tool("fetch", {"url": "\(allowed)"})).content[0].text)
                    print("b_denied=" + (await b.call_tool("fetch", {"url": "http://denied.test:\(stack.origin.port)/"})).content[0].text)
            asyncio.run(main())
            '
            """)
        #expect(status == 0, "\(out)\n\(err)\nrouter: \(stack.router.standardErrorSoFar())")
        #expect(out.contains("a_fetch=200"), "\(out)\n\(err)")
        #expect(out.contains("third=503"), "\(out)\n\(err)")
        // Session A's launcher unregistered only its own listeners: B's egress proxy still answers.
        #expect(out.contains("b_fetch=200"), "\(out)\n\(err)")
        #expect(out.contains("b_denied=403"), "\(out)\n\(err)")
        stack.router.signal(SIGTERM)
        _ = try await stack.router.waitForExit()
        try await stack.mock.shutdown()
        try await stack.origin.shutdown()
    }

    /// A sandbox policy that shows the agent virtual environment, in the stack's directory.
    static func venvPolicy(_ stack: Stack) throws -> String {
        let venvRoot = URL(fileURLWithPath: Self.agentVenv).deletingLastPathComponent().path
        let policy = stack.directory + "/sandbox.json"
        try TempDirectory.write(policy, """
            {"readonlyPaths": ["\(venvRoot)"], "seccompProfile": "\(Self.packageRoot)/policies/seccomp/agent-strict.json"}
            """, mode: 0o644)
        return policy
    }

    /// PIDs whose command line contains `text`.
    static func processes(containing text: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { $0.allSatisfy(\.isNumber) }.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).contains(text)
        }
    }

    @Test("if the router is not reachable the launcher stops with a clear error and never starts the worker", .enabled(if: canRun, "needs root (namespaces, UID switch)"))
    func routerUnreachable() async throws {
        let stack = try await Self.start()
        let marker = stack.directory + "/work/ran"
        let (status, _, err) = try await Self.run(stack, control: stack.directory + "/missing.sock", "touch \(marker)")
        #expect(status == 125)
        #expect(err.contains("router not reachable") && err.contains("the worker was not started"))
        #expect(!FileManager.default.fileExists(atPath: marker))
        stack.router.signal(SIGTERM)
        _ = try await stack.router.waitForExit()
        try await stack.mock.shutdown()
        try await stack.origin.shutdown()
    }

    @Test("the worker's exit status comes back through airlock run", .enabled(if: canRun, "needs root (namespaces, UID switch)"))
    func exitStatus() async throws {
        let stack = try await Self.start()
        let (status, _, _) = try await Self.run(stack, "exit 7")
        #expect(status == 7)
        stack.router.signal(SIGTERM)
        _ = try await stack.router.waitForExit()
        try await stack.mock.shutdown()
        try await stack.origin.shutdown()
    }
}

/// `airlock run` started by an ordinary user (as inside a Kubernetes agent container running as UID 1000).
@Suite("Unprivileged launcher", .timeLimit(.minutes(1)))
struct UnprivilegedLauncherTests {
    static let canRun = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")

    @Test("as UID 1000 it still applies no_new_privs, seccomp, no capabilities and a read-only view, and says what it could not apply", .enabled(if: canRun, "needs root to start the launcher as UID 1000 with setpriv"))
    func unprivileged() async throws {
        let workdir = "/var/tmp/airlock-unprivileged-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(workdir, 0o755)
        chown(workdir, 1000, 1000)
        defer { try? FileManager.default.removeItem(atPath: workdir) }
        let (status, out, err): (Int32, String, String) = try await offPool {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = [
                "--reuid=1000", "--regid=1000", "--clear-groups", AirlockProcess.binary, "run", "--no-router", "--workdir", workdir,
                "--", "/bin/sh", "-c",
                "grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status; touch \(workdir)/inside && echo wrote; touch /etc/airlock-escape-test 2>/dev/null || echo etc_refused",
            ]
            process.currentDirectoryURL = URL(fileURLWithPath: workdir)
            let stdout = Pipe()
            let stderr = Pipe()
            process.standardOutput = stdout
            process.standardError = stderr
            try process.run()
            let o = readToEnd(stdout.fileHandleForReading)
            let e = readToEnd(stderr.fileHandleForReading)
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
        }
        #expect(status == 0, "\(err)")
        #expect(out.contains("NoNewPrivs:\t1"))
        #expect(out.contains("Seccomp:\t2"))
        #expect(out.contains("CapEff:\t0000000000000000"))
        #expect(out.contains("wrote") && FileManager.default.fileExists(atPath: workdir + "/inside"))
        #expect(out.contains("etc_refused"))
        #expect(err.contains("not applied"), "the launcher must say what it could not apply")
    }
}
