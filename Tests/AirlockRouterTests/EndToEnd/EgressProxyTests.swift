#if canImport(Glibc)
import Glibc
#endif
import AirlockMockUpstream
import AirlockPolicy
import AirlockReceipts
import AirlockTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import AirlockRouter

/// The egress proxy over real sockets: a real TLS server behind CONNECT, plain-HTTP forwarding, and the
/// refusals, each receipted.
@Suite("Egress proxy end to end", .timeLimit(.minutes(1)))
struct EgressProxyTests {
    static let hasTools = FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/curl")

    /// An `openssl s_server` on loopback with a fresh self-signed certificate for `allowed.test`.
    /// `openssl s_server` on a port the kernel picks (`-accept 127.0.0.1:0`), read back from the `ACCEPT` line it
    /// prints: a port chosen beforehand could be taken by another test's listener between the choice and the bind.
    final class TLSServer: @unchecked Sendable {
        let process = Process()
        let port: Int
        let certificate: String
        let directory: String

        init() throws {
            var template = Array("/tmp/airlock-tls-XXXXXX".utf8CString)
            directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
            certificate = directory + "/cert.pem"
            let make = Process()
            make.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            make.arguments = [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                "-subj", "/CN=allowed.test", "-addext", "subjectAltName=DNS:allowed.test",
                "-keyout", directory + "/key.pem", "-out", certificate,
            ]
            make.standardError = FileHandle.nullDevice
            try make.run()
            make.waitUntilExit()
            let out = directory + "/s_server.out"
            FileManager.default.createFile(atPath: out, contents: nil)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = ["s_server", "-accept", "127.0.0.1:0", "-cert", certificate, "-key", directory + "/key.pem", "-www"]
            process.standardOutput = FileHandle(forWritingAtPath: out)
            process.standardError = FileHandle.nullDevice
            try process.run()
            var found: Int?
            for _ in 0..<500 where found == nil && process.isRunning {
                let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
                if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("ACCEPT ") }), let p = line.split(separator: ":").last.flatMap({ Int($0) }) {
                    found = p
                } else {
                    usleep(10_000)
                }
            }
            guard let found else {
                kill(process.processIdentifier, SIGKILL)
                throw POSIXError(.EADDRNOTAVAIL)
            }
            port = found
        }

        deinit {
            // SIGKILL: the test process may block SIGTERM (signal-forwarding tests), and children inherit the mask.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// Where tunnels go: `allowed.test` a TLS server, `mock.test` an origin of its own on `origin` (never the
    /// router's upstream `h.mock`, which the proxy refuses to reach), each allowed on its exact port only.
    static func configure(_ c: inout AirlockConfig, _ dir: String, origin: Int, tls: Int = 1) {
        c.router.listeners.append(ListenerConfig(kind: .tcp(host: "127.0.0.1", port: 0), role: .egress))
        c.router.egress = EgressSettings(resolve: ["allowed.test": "127.0.0.1", "private.test": "10.1.2.3", "mock.test": "127.0.0.1"])
        c.sandboxes[0].egress = EgressPolicy(
            allow: ["allowed.test:\(tls)", "private.test:*", "mock.test:\(origin)", "169.254.169.254:80", "also-denied.test:*"],
            deny: ["also-denied.test:*"],
            allowAddresses: ["127.0.0.1"],
            maxTunnels: 2
        )
    }

    /// A router with an egress listener, and the origin its sandbox may tunnel to. The origin requires a key the
    /// proxy never has, so a 401 from it shows the proxy added no credential.
    static func withEgress(
        tls: Int = 1,
        configure more: @escaping (inout AirlockConfig, String) -> Void = { _, _ in },
        _ body: (Harness, MockUpstreamServer) async throws -> Void
    ) async throws {
        let origin = try await MockUpstreamServer.start(MockUpstreamConfiguration(requiredKey: "sk-origin-\(UInt64.random(in: 0...UInt64.max))"))
        do {
            try await withHarness(configure: { c, dir in
                configure(&c, dir, origin: origin.port, tls: tls)
                more(&c, dir)
            }) { h in
                try await body(h, origin)
            }
        } catch {
            try? await origin.shutdown()
            throw error
        }
        try await origin.shutdown()
    }

    static func egressPort(_ h: Harness) -> Int {
        Int(h.router.boundAddresses[1].split(separator: ":").last!)!
    }

    static func connect(_ port: Int, _ authority: String) async throws -> String {
        try await offPool {
            let socket = try RawSocket(port: port)
            socket.send("CONNECT \(authority) HTTP/1.1\r\nhost: \(authority)\r\n\r\n")
            return socket.readAll().text
        }
    }

    @Test("CONNECT to an allowlisted host reaches a real TLS server (certificate verified end to end)", .enabled(if: hasTools, "needs openssl and curl"))
    func tunnel() async throws {
        let server = try TLSServer()
        try await Self.withEgress(tls: server.port) { h, _ in
            let proxy = Self.egressPort(h)
            let port = server.port
            let certificate = server.certificate
            #expect(await eventually { (try? RawSocket(port: port, timeoutSeconds: 1)) != nil })
            let output: String = try await offPool {
                let curl = Process()
                curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
                curl.arguments = ["-s", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", "-x", "http://127.0.0.1:\(proxy)", "--cacert", certificate, "https://allowed.test:\(port)/"]
                let pipe = Pipe()
                curl.standardOutput = pipe
                try curl.run()
                let data = readToEnd(pipe.fileHandleForReading)
                curl.waitUntilExit()
                return String(decoding: data, as: UTF8.self)
            }
            #expect(output == "200")
        }
    }

    @Test("refusals: not allowlisted, deny list, resolves to a private address, metadata address", arguments: [
        ("nowhere.test:443", "not_allowlisted"),
        ("also-denied.test:443", "denylisted"),
        ("private.test:443", "forbidden_address"),
        ("169.254.169.254:80", "forbidden_address"),
        ("2852039166:80", "forbidden_address"),
        ("[::ffff:169.254.169.254]:80", "not_allowlisted"),
    ])
    func refusals(authority: String, reason: String) async throws {
        try await Self.withEgress { h, _ in
            let text = try await Self.connect(Self.egressPort(h), authority)
            #expect(text.hasPrefix("HTTP/1.1 403"))
            #expect(text.contains("x-airlock-reason: \(reason)"))
        }
    }

    @Test(
        "the proxy never connects to the router's own listeners or upstreams, whatever the allowlist says (a port the kernel picked, a configuration that skipped validation)",
        arguments: ["mock.test:ROUTER", "mock.test:EGRESS", "mock.test:UPSTREAM", "127.0.0.1:UPSTREAM", "[::ffff:127.0.0.1]:UPSTREAM", "0.0.0.0:ROUTER", "localhost:UPSTREAM"]
    )
    func routerEndpoints(authority: String) async throws {
        try await Self.withEgress { h, origin in
            let proxy = Self.egressPort(h)
            let ports = ["ROUTER": h.routerPort, "EGRESS": proxy, "UPSTREAM": h.mock.port]
            var target = authority
            for (name, port) in ports { target = target.replacingOccurrences(of: name, with: "\(port)") }
            // Allow exactly that target and every spelling of loopback, as a careless policy might.
            var config = h.router.holder.current.config
            config.sandboxes[0].egress.allow += [target, "mock.test:\(origin.port)"]
            config.sandboxes[0].egress.allowAddresses += ["0.0.0.0", "::ffff:127.0.0.1", "::1"]
            let reloaded = await h.router.reload(LoadedConfig(config: config, path: "test.yaml", source: Array("careless".utf8)))
            #expect(reloaded != .refused(""), "\(reloaded)")
            let text = try await Self.connect(proxy, target)
            #expect(text.hasPrefix("HTTP/1.1 403"), "\(text)")
            #expect(text.contains("x-airlock-reason: router_endpoint"), "\(text)")
            #expect(h.mock.requestCount == 0)
            // The origin on its own port is still reachable.
            let originPort = origin.port
            let fine = try await offPool {
                let socket = try RawSocket(port: proxy)
                socket.send("CONNECT mock.test:\(originPort) HTTP/1.1\r\nhost: x\r\n\r\n")
                return socket.readSome()
            }
            #expect(fine.hasPrefix("HTTP/1.1 200"), "\(fine)")
        }
    }

    @Test("plain-HTTP forwarding reaches an allowed origin and adds no credential")
    func forward() async throws {
        try await Self.withEgress { h, origin in
            let proxy = Self.egressPort(h)
            let port = origin.port
            let text = try await offPool {
                let socket = try RawSocket(port: proxy)
                socket.send("GET http://mock.test:\(port)/v1/models HTTP/1.1\r\nhost: mock.test:\(port)\r\nproxy-authorization: Basic abc\r\n\r\n")
                return socket.readAll().text
            }
            // The mock requires the provider key; the proxy never adds it, so the origin answers 401.
            #expect(text.hasPrefix("HTTP/1.1 401"))
            let seen = try #require(origin.recordedRequests().last)
            #expect(seen.path == "/v1/models")
            #expect(seen.header("authorization") == nil && seen.header("proxy-authorization") == nil)
        }
    }

    @Test(
        "a forwarded request carries exactly the checked authority as Host, whatever Host the agent sent",
        arguments: ["host: evil.example\r\n", "", "HoSt: 169.254.169.254\r\n"]
    )
    func forwardedHost(agentHost: String) async throws {
        try await Self.withEgress { h, origin in
            let proxy = Self.egressPort(h)
            let port = origin.port
            _ = try await offPool {
                let socket = try RawSocket(port: proxy)
                socket.send("GET http://mock.test:\(port)/v1/models HTTP/1.1\r\n\(agentHost)\r\n")
                return socket.readAll().text
            }
            let seen = try #require(origin.recordedRequests().last)
            #expect(seen.header("host") == "mock.test:\(port)")
        }
    }

    @Test("two Host headers in a forwarded request are refused with 400 and nothing reaches the origin")
    func twoHosts() async throws {
        try await Self.withEgress { h, origin in
            let proxy = Self.egressPort(h)
            let port = origin.port
            let text = try await offPool {
                let socket = try RawSocket(port: proxy)
                socket.send("GET http://mock.test:\(port)/v1/models HTTP/1.1\r\nhost: mock.test\r\nhost: evil.example\r\n\r\n")
                return socket.readAll().text
            }
            #expect(text.hasPrefix("HTTP/1.1 400"))
            #expect(origin.requestCount == 0)
        }
    }

    @Test("a head over the proxy's limit is refused with 431 however it arrives, in one write included")
    func oversizedHead() async throws {
        try await Self.withEgress { h, origin in
            let proxy = Self.egressPort(h)
            let port = origin.port
            let text = try await offPool {
                let socket = try RawSocket(port: proxy)
                let padding = "x-pad: " + String(repeating: "a", count: 20_000) + "\r\n"
                socket.send("GET http://mock.test:\(port)/v1/models HTTP/1.1\r\n\(padding)\r\n")
                return socket.readAll().text
            }
            #expect(text.hasPrefix("HTTP/1.1 431"), "\(text.prefix(80))")
            #expect(origin.requestCount == 0)
        }
    }

    @Test("a tunnel the agent half-closes frees its slot at once (pip closes its side first), and still gets the origin's answer")
    func halfClosedTunnelFreesSlot() async throws {
        try await Self.withEgress { h, origin in
            let proxy = Self.egressPort(h)
            let port = origin.port
            // Two tunnels (the cap) whose agents sent a request and then their FIN.
            var answers: [String] = []
            let open = Mutex<[RawSocket]>([])
            for _ in 0..<2 {
                let text = try await offPool {
                    let socket = try RawSocket(port: proxy, timeoutSeconds: 20)
                    socket.send("CONNECT mock.test:\(port) HTTP/1.1\r\nhost: x\r\n\r\n")
                    _ = socket.readSome()
                    socket.send("GET /v1/models HTTP/1.1\r\nhost: mock.test\r\n\r\n")
                    shutdown(socket.fd, Int32(SHUT_WR))
                    // The answer, while the tunnel stays open for as long as the origin keeps its side open.
                    let answer = socket.readSome()
                    open.withLock { $0.append(socket) }
                    return answer
                }
                answers.append(text)
            }
            // The origin answered through each half-closed tunnel (401: the proxy adds no credential).
            #expect(answers.allSatisfy { $0.hasPrefix("HTTP/1.1 401") }, "\(answers)")
            // Neither holds a slot now: a third tunnel opens at once, long before the idle timeout.
            let third = try await offPool {
                let socket = try RawSocket(port: proxy)
                socket.send("CONNECT mock.test:\(port) HTTP/1.1\r\nhost: x\r\n\r\n")
                return socket.readSome()
            }
            #expect(third.hasPrefix("HTTP/1.1 200"), "\(third)")
        }
    }

    @Test("the inference listener never proxies, and the egress listener never serves the model API")
    func separation() async throws {
        try await Self.withEgress { h, _ in
            let inference = try await Self.connect(h.routerPort, "allowed.test:443")
            #expect(!inference.hasPrefix("HTTP/1.1 200"))
            let body = Harness.chat()
            let egress = try await offPool {
                let socket = try RawSocket(port: Self.egressPort(h))
                socket.send("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)")
                return socket.readAll().text
            }
            #expect(egress.hasPrefix("HTTP/1.1 400"))
            #expect(h.mock.requestCount == 0)
        }
    }

    @Test("concurrent tunnels are capped per sandbox")
    func tunnelLimit() async throws {
        try await Self.withEgress { h, origin in
            let proxy = Self.egressPort(h)
            let port = origin.port
            var open: [RawSocket] = []
            for _ in 0..<2 {
                // Each tunnel is established (and counted) before the next: a fixed pause was too short on a loaded
                // machine, and the third tunnel then opened first.
                let (socket, answer) = try await offPool {
                    let socket = try RawSocket(port: proxy)
                    socket.send("CONNECT mock.test:\(port) HTTP/1.1\r\nhost: x\r\n\r\n")
                    return (socket, socket.readSome())
                }
                #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
                open.append(socket)
            }
            let third = try await Self.connect(proxy, "mock.test:\(port)")
            #expect(third.hasPrefix("HTTP/1.1 429"))
            #expect(third.contains("too_many_tunnels"))
            // Tunnels opened before a reload still count after it.
            var config = h.router.holder.current.config
            config.tenants[0].tokensPerDay = 123_456
            let reloaded = await h.router.reload(LoadedConfig(config: config, path: "test.yaml", source: Array("reloaded".utf8)))
            if case .refused(let why) = reloaded { Issue.record("reload refused: \(why)") }
            #expect(h.router.holder.current.config.tenants[0].tokensPerDay == 123_456)
            let afterReload = try await Self.connect(proxy, "mock.test:\(port)")
            #expect(afterReload.hasPrefix("HTTP/1.1 429"), "\(afterReload)")
            _ = open
        }
    }

    /// Runs `body` against a harness writing receipts to `<directory>/receipts`, with an origin of its own on the
    /// port `body` is given; stops both however `body` ends (a harness left running traps when it goes), then
    /// returns the egress records, the directory and the origin's port.
    static func runWithReceipts(
        _ more: @escaping (inout AirlockConfig) -> Void = { _ in },
        _ body: (Harness, Int) async throws -> Void
    ) async throws -> (egress: [ReceiptEntry], directory: String, port: Int) {
        let directory = TempDirectory.make()
        let signer = try CheckpointSigner.generate(name: "airlock.test/egress")
        try signer.write(toPrefix: directory + "/signing")
        let origin = try await MockUpstreamServer.start(MockUpstreamConfiguration())
        let port = origin.port
        let h: Harness
        do {
            h = try await Harness.start(directory: directory, receipts: nil) { c, dir in
                Self.configure(&c, dir, origin: port)
                c.receipts = ReceiptSettings(directory: dir + "/receipts", origin: "airlock.test/egress", signingKeys: [dir + "/signing.key"])
                more(&c)
            }
        } catch {
            try? await origin.shutdown()
            throw error
        }
        do {
            try await body(h, port)
        } catch {
            await h.stop()
            try? await origin.shutdown()
            throw error
        }
        // The last tunnel's close receipt is given a moment.
        try await Task.sleep(for: .milliseconds(200))
        await h.stop()
        try await origin.shutdown()
        var egress: [ReceiptEntry] = []
        try LogReader(directory: directory + "/receipts").forEach { entry in
            if entry.kind == "egress" { egress.append(entry) }
            return true
        }
        return (egress, directory, port)
    }

    @Test("every tunnel is receipted with host, port, address, decision, bytes each way and duration")
    func receipts() async throws {
        let (egress, directory, port) = try await Self.runWithReceipts { h, port in
            let proxy = Self.egressPort(h)
            _ = try await offPool {
                let socket = try RawSocket(port: proxy)
                socket.send("CONNECT mock.test:\(port) HTTP/1.1\r\nhost: x\r\n\r\nGET /__mock/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                return socket.readAll().text
            }
            _ = try await Self.connect(proxy, "nowhere.test:443")
        }
        #expect(egress.count == 3)
        let opened = try #require(egress.first { $0["reason"]?.stringValue == "opened" })
        #expect(opened["host"]?.stringValue == "mock.test" && opened["port"] == .integer(Int64(port)) && opened["address"]?.stringValue == "127.0.0.1")
        let closed = try #require(egress.first { $0["reason"]?.stringValue == "closed" })
        #expect(closed["request_index"] == .integer(Int64(opened.index)))
        #expect((closed["bytes_up"]?.integerValue ?? 0) > 0 && (closed["bytes_down"]?.integerValue ?? 0) > 0)
        #expect(closed["duration_us"] != nil)
        let denied = try #require(egress.first { $0["decision"]?.stringValue == "deny" })
        #expect(denied["reason"]?.stringValue == "not_allowlisted" && denied["host"]?.stringValue == "nowhere.test")
        // An allow list that is almost right: what enforce mode refused, for review.
        let suggestion = try await AirlockProcess.runToEnd(["policy", "suggest", directory + "/receipts", "--include-refused"])
        #expect(suggestion.output.contains("- \"nowhere.test\"  # 1 time"), "\(suggestion.output)\(suggestion.error)")
        #expect(!suggestion.output.contains("mock.test"), "an allowed destination was suggested: \(suggestion.output)")
    }

    @Test(
        "learn mode opens what the allow list lacks, receipted as learned, never what the deny list or the address checks refuse; policy suggest turns the receipts into allow entries"
    )
    func learnMode() async throws {
        let (egress, directory, port) = try await Self.runWithReceipts({ c in
            c.router.egress.resolve["learned.test"] = "127.0.0.1"
            c.router.egress.resolve["inside.test"] = "10.9.9.9"
            c.sandboxes[0].egress.mode = .learn
        }) { h, port in
            let proxy = Self.egressPort(h)
            let answer = try await offPool {
                let socket = try RawSocket(port: proxy)
                socket.send("CONNECT learned.test:\(port) HTTP/1.1\r\nhost: x\r\n\r\nGET /__mock/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                return socket.readAll().text
            }
            #expect(answer.hasPrefix("HTTP/1.1 200 Connection established"), "\(answer)")
            #expect(answer.contains("HTTP/1.1 200"), "the origin did not answer through the learned tunnel: \(answer)")
            for (authority, reason) in [
                ("also-denied.test:443", "denylisted"), ("inside.test:443", "forbidden_address"),
                ("[::ffff:169.254.169.254]:80", "forbidden_address"),
            ] {
                let refused = try await Self.connect(proxy, authority)
                #expect(refused.hasPrefix("HTTP/1.1 403") && refused.contains("x-airlock-reason: \(reason)"), "\(authority): \(refused)")
            }
        }
        let learned = try #require(egress.first { $0["reason"]?.stringValue == "learned" })
        #expect(learned["decision"]?.stringValue == "allow" && learned["host"]?.stringValue == "learned.test")
        #expect(egress.filter { $0["decision"]?.stringValue == "deny" }.count == 3)

        let suggestion = try await AirlockProcess.runToEnd(["policy", "suggest", directory + "/receipts"])
        #expect(suggestion.status == 0, "\(suggestion.error)")
        #expect(suggestion.output.contains("- name: \(Harness.sandbox)"), "\(suggestion.output)")
        #expect(suggestion.output.contains("\"learned.test:\(port)\"  # 1 time"), "\(suggestion.output)")
        #expect(!suggestion.output.contains("also-denied") && !suggestion.output.contains("inside.test"), "\(suggestion.output)")
        let none = try await AirlockProcess.runToEnd(["policy", "suggest", directory + "/receipts", "--sandbox", "other"])
        #expect(none.status == 0 && none.output.hasPrefix("# no learned egress destinations"), "\(none.output)")
    }

    /// Proxy variables in the router's environment: `Router process › the router's own upstream calls ignore proxy
    /// environment variables` (a real process; setting them here would race every other test's child processes).
    @Test("the router's own upstream calls never use the egress proxy")
    func upstreamNotSteered() async throws {
        try await Self.withEgress { h, _ in
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(r.status == 200)
            #expect(h.mock.requestCount == 1)
        }
    }
}

@Suite("Egress tunnel time limits", .timeLimit(.minutes(1)))
struct EgressTimeLimitTests {
    @Test("an idle tunnel is closed after idle_timeout; a busy one after max_lifetime", arguments: [("idle", 1), ("lifetime", 2)])
    func limits(kind: String, seconds: Int64) async throws {
        try await EgressProxyTests.withEgress(configure: { c, _ in
            if kind == "idle" {
                c.sandboxes[0].egress.idleTimeout = .seconds(seconds)
            } else {
                c.sandboxes[0].egress.maxLifetime = .seconds(seconds)
            }
        }) { h, origin in
            let proxy = EgressProxyTests.egressPort(h)
            let port = origin.port
            let start = ContinuousClock.now
            let (text, closed) = try await offPool {
                let socket = try RawSocket(port: proxy, timeoutSeconds: 10)
                socket.send("CONNECT mock.test:\(port) HTTP/1.1\r\nhost: x\r\n\r\n")
                if kind == "lifetime" {
                    // Keep the tunnel busy (each request below is answered) so only the lifetime can end it.
                    for _ in 0..<12 {
                        socket.send("GET /__mock/health HTTP/1.1\r\nhost: x\r\n\r\n")
                        usleep(250_000)
                    }
                }
                return socket.readAll()
            }
            let elapsed = ContinuousClock.now - start
            #expect(text.hasPrefix("HTTP/1.1 200 Connection established"))
            #expect(closed)
            #expect(elapsed >= .seconds(seconds) && elapsed < .seconds(seconds + 5))
        }
    }
}
