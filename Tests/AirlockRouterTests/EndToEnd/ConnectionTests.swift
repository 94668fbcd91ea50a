#if canImport(Glibc)
import Glibc
#endif
import AirlockMockUpstream
import AirlockPolicy
import AirlockTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import AirlockRouter

/// Framing, timeouts and identity at the connection level, with raw sockets and real peer processes.
@Suite("Connections and identity end to end", .timeLimit(.minutes(1)))
struct ConnectionTests {
    /// One JSON POST as raw bytes, for tests that control exactly what goes on the wire.
    static func post(_ path: String, _ body: String) -> String {
        "POST \(path) HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    /// A harness whose router has these head and idle timeouts, and a raw connection to it that waits for answers
    /// longer than either.
    func withTimeouts(
        header: ConfigDuration, idle: ConfigDuration, _ body: (Harness, RawSocket) async throws -> Void
    ) async throws {
        try await withHarness(configure: { c, _ in
            c.router.limits.headerTimeout = header
            c.router.limits.idleTimeout = idle
        }) { h in
            let socket = try RawSocket(port: h.routerPort, timeoutSeconds: 70)
            try await body(h, socket)
        }
    }

    @Test("request smuggling shapes are refused with 400 and the connection closed", arguments: [
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\n{}",
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\ncontent-length: 7\r\n\r\n{}",
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: identity, chunked\r\n\r\n0\r\n\r\n",
        // Not HTTP at all: the parser's own error, answered by the protocol error handler.
        "GET /v1/models HTTP/1.1\r\nhost: x\r\nbad header line\r\n\r\n",
    ])
    func smuggling(raw: String) async throws {
        try await withHarness { h in
            let socket = try RawSocket(port: h.routerPort)
            socket.send(raw)
            let (text, closed) = try await offPool { socket.readAll() }
            #expect(text.hasPrefix("HTTP/1.1 400"))
            #expect(closed)
            #expect(h.mock.requestCount == 0)
        }
    }

    @Test("pipelined requests are answered one at a time, in order; the last one's connection: close ends the connection")
    func pipelining() async throws {
        try await withHarness { h in
            // The first answer is slow, so the second and third requests wait in the router while it is pending.
            h.mock.addFault(MockFault(count: 1, delayBeforeHeadersMs: 300))
            let socket = try RawSocket(port: h.routerPort)
            let chat = Harness.chat()
            let embedding = #"{"model":"embed-test","input":"one two"}"#
            socket.send(
                Self.post("/v1/chat/completions", chat) + Self.post("/v1/embeddings", embedding)
                    + "GET /v1/models HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
            )
            let (text, closed) = try await offPool { socket.readAll() }
            // Responses with a Content-Length end with their body, so the next status line follows it directly.
            let statusLines = text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { "HTTP/1.1 " + $0.prefix { $0 != "\r\n" } }
            #expect(statusLines == ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 200 OK"], "\(text)")
            // In the order asked: the chat completion, then the embedding, then the model list.
            let chatAt = text.range(of: "\"chat.completion\"")?.lowerBound
            let embeddingAt = text.range(of: "\"embedding\"")?.lowerBound
            let modelsAt = text.range(of: "\"object\":\"model\"")?.lowerBound
            #expect(chatAt != nil && embeddingAt != nil && modelsAt != nil, "\(text)")
            if let chatAt, let embeddingAt, let modelsAt {
                #expect(chatAt < embeddingAt && embeddingAt < modelsAt)
            }
            #expect(closed)
            #expect(h.mock.requestCount == 2)
        }
    }

    @Test("a half-close after a response has ended closes the connection at once, not at the idle timeout")
    func halfCloseBetweenRequests() async throws {
        try await withHarness { h in
            let socket = try RawSocket(port: h.routerPort, timeoutSeconds: 40)
            socket.send("GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n")
            let first = try await offPool { socket.readSome() }
            #expect(first.hasPrefix("HTTP/1.1 200"))
            let start = ContinuousClock.now
            shutdown(socket.fd, Int32(SHUT_WR))
            let (_, closed) = try await offPool { socket.readAll() }
            #expect(closed)
            // Closed because of the half-close, not by the idle timeout (30 s in the harness) much later.
            #expect(ContinuousClock.now - start < .seconds(20))
        }
    }

    @Test("a request head trickled slower than header_timeout is cut off")
    func slowHeaders() async throws {
        try await withHarness(configure: { c, _ in
            c.router.limits.headerTimeout = .milliseconds(300)
            c.router.limits.idleTimeout = .seconds(60)
        }) { h in
            let socket = try RawSocket(port: h.routerPort, timeoutSeconds: 40)
            let start = ContinuousClock.now
            socket.send("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
            try await Task.sleep(for: .milliseconds(150))
            socket.send("x-slow: 1\r\n")
            let (text, closed) = try await offPool { socket.readAll() }
            #expect(closed)
            #expect(text.isEmpty)
            // Cut by header_timeout (300 ms), not idle_timeout (60 s); the margin absorbs a starved machine.
            #expect(ContinuousClock.now - start < .seconds(30))
        }
    }

    @Test("a partial head sent behind a request in flight is cut off at header_timeout after the answer, not idle_timeout")
    func partialPipelinedHead() async throws {
        try await withTimeouts(header: .milliseconds(500), idle: .seconds(60)) { h, socket in
            h.mock.addFault(MockFault(count: 1, delayBeforeHeadersMs: 1_000))
            let body = Harness.chat()
            socket.send(Self.post("/v1/chat/completions", body))
            #expect(await eventually(seconds: 20) { h.mock.requestCount == 1 })
            // While the first request waits for its upstream, the next head starts and never ends.
            socket.send("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
            let start = ContinuousClock.now
            let (text, closed) = try await offPool { socket.readAll() }
            #expect(text.hasPrefix("HTTP/1.1 200"), "\(text)")
            #expect(closed)
            // The answer takes about a second, then header_timeout (500 ms) cuts the partial head; idle_timeout is
            // 60 s. The margin absorbs a starved machine.
            #expect(ContinuousClock.now - start < .seconds(30))
        }
    }

    @Test(
        "a partial head that arrives in the same read as the previous request's end is cut off at header_timeout",
        arguments: [false, true]
    )
    func partialHeadInSameRead(behindOneInFlight: Bool) async throws {
        try await withTimeouts(header: .milliseconds(500), idle: .seconds(60)) { h, socket in
            let body = Harness.chat()
            let request = Self.post("/v1/chat/completions", body)
            if behindOneInFlight {
                // The whole request and the partial head wait in the request gate behind one being answered.
                h.mock.addFault(MockFault(count: 1, delayBeforeHeadersMs: 1_000))
                socket.send(request)
                #expect(await eventually(seconds: 20) { h.mock.requestCount == 1 })
            }
            // One write: a whole request, then the start of the next head (cut inside its method, so the decoder
            // holds no bytes of it and emits nothing) that never ends.
            socket.send(request + "PO")
            let start = ContinuousClock.now
            let (text, closed) = try await offPool { socket.readAll() }
            #expect(text.components(separatedBy: "HTTP/1.1 200").count == (behindOneInFlight ? 3 : 2), "\(text)")
            #expect(closed)
            // Cut by header_timeout (500 ms) after the answers, not by idle_timeout (60 s); the margin absorbs a
            // starved machine.
            #expect(ContinuousClock.now - start < .seconds(30))
        }
    }

    @Test(
        "a whole request, even with an empty line after its body, leaves the connection on idle_timeout, not header_timeout",
        arguments: ["", "\r\n"]
    )
    func wholeRequestStaysIdle(after: String) async throws {
        try await withTimeouts(header: .milliseconds(200), idle: .seconds(3)) { h, socket in
            let body = Harness.chat()
            let start = ContinuousClock.now
            socket.send(Self.post("/v1/chat/completions", body) + after)
            let (text, closed) = try await offPool { socket.readAll() }
            #expect(text.hasPrefix("HTTP/1.1 200"), "\(text)")
            #expect(closed)
            // RFC 9112 §2.2: an empty line before a request-line is ignored, so it starts no head.
            #expect(ContinuousClock.now - start >= .milliseconds(2_800))
        }
    }

    @Test(
        "CONNECT and methods the router does not serve are refused at once with a framed 405, and the connection closed",
        arguments: [
            "CONNECT api.openai.com:443 HTTP/1.1\r\nhost: api.openai.com:443\r\n\r\n",
            "PUT /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n",
            "DELETE /v1/models HTTP/1.1\r\nhost: x\r\n\r\n",
        ]
    )
    func unservedMethods(raw: String) async throws {
        try await withHarness { h in
            let socket = try RawSocket(port: h.routerPort, timeoutSeconds: 40)
            let start = ContinuousClock.now
            socket.send(raw)
            let (text, closed) = try await offPool { socket.readAll() }
            #expect(text.hasPrefix("HTTP/1.1 405"), "\(text)")
            if !raw.hasPrefix("CONNECT") {
                #expect(text.lowercased().contains("content-length: "))
            }
            // (NIO's encoder writes a response to CONNECT without body or framing headers, as RFC 9112 §6.3 reads
            // for a tunnel; the close right after ends it for any client.)
            #expect(text.lowercased().contains("allow: get, post"))
            #expect(closed)
            // At once, not at the idle timeout (30 s in the harness).
            #expect(ContinuousClock.now - start < .seconds(20))
            #expect(h.mock.requestCount == 0)
        }
    }

    @Test("an idle keep-alive connection is closed after idle_timeout")
    func idle() async throws {
        try await withHarness(configure: { c, _ in c.router.limits.idleTimeout = .seconds(1) }) { h in
            let socket = try RawSocket(port: h.routerPort)
            socket.send("GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n")
            let start = ContinuousClock.now
            let (text, closed) = try await offPool { socket.readAll() }
            #expect(text.hasPrefix("HTTP/1.1 200"))
            #expect(closed)
            #expect(ContinuousClock.now - start >= .milliseconds(900))
        }
    }

    @Test("a peer UID that maps to no sandbox gets 403 and nothing reaches upstream; headers cannot claim one")
    func unknownPeer() async throws {
        try await withHarness(configure: { c, _ in c.sandboxes[0].uids = [4_242_424] }) { h in
            let r = try await h.request(
                "/v1/chat/completions",
                body: Harness.chat(),
                headers: [("content-type", "application/json"), ("x-airlock-sandbox", Harness.sandbox), ("x-forwarded-user", "agent")]
            )
            #expect(r.status == 403)
            #expect(r.body.contains("unknown_sandbox"))
            #expect(h.mock.requestCount == 0)
        }
    }

    @Test("a listener handed in as a bound descriptor serves the sandbox it was registered for")
    func handedInListener() async throws {
        let (fd, port) = Loopback.listener()
        #expect(port != 0)
        try await withHarness(configure: { c, _ in
            c.sandboxes[0].uids = [4_242_424]
            c.sandboxes.append(SandboxPolicy(name: "handed", tenant: Harness.tenant, models: ["embed-test"]))
            c.router.listeners.append(ListenerConfig(kind: .inherited(fd: fd, sandbox: "handed")))
        }) { h in
            let tcp = try await h.request(.GET, "/v1/models", headers: [])
            #expect(tcp.status == 403)
            let socket = try RawSocket(port: port)
            socket.send("GET /v1/models HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            let (text, _) = try await offPool { socket.readAll() }
            #expect(text.hasPrefix("HTTP/1.1 200"))
            #expect(text.contains("\"id\":\"embed-test\""))
            #expect(!text.contains("gpt-test"))
        }
    }

    @Test("a handed-in descriptor that is not a stream socket is refused at start")
    func handedInNotSocket() async throws {
        let fd = open("/dev/null", O_RDONLY)
        defer { close(fd) }
        await #expect(throws: SystemCallError.self) {
            try await Harness.start { c, _ in
                c.router.listeners.append(ListenerConfig(kind: .inherited(fd: fd, sandbox: Harness.sandbox)))
            }
        }
    }
}

/// Identity from the kernel for peers running as different UIDs: real client processes started with
/// `setpriv`, on a Unix socket (SO_PEERCRED) and on TCP loopback (NETLINK_SOCK_DIAG).
@Suite("Kernel-verified identity for two UIDs", .timeLimit(.minutes(1)))
struct PeerUIDTests {
    static func curl(asUID uid: UInt32, _ arguments: [String]) throws -> String {
        let (status, output) = try Loopback.curl(asUID: uid, ["-sS"] + arguments)
        return output + (status == 0 ? "" : " (curl exit \(status))")
    }

    static func configure(_ c: inout AirlockConfig, _ dir: String) {
        c.sandboxes = [
            SandboxPolicy(name: "alpha", tenant: Harness.tenant, uids: [1000], models: ["gpt-test"]),
            SandboxPolicy(name: "beta", tenant: Harness.tenant, uids: [1001], models: ["claude-test"]),
        ]
        c.router.listeners.append(ListenerConfig(kind: .unix(path: dir + "/router.sock", mode: ConfigFileMode(rawValue: 0o660)!, group: nil)))
        chmod(dir, 0o755)
    }

    @Test("a client that closed before its connection was accepted is an unknown peer, never UID 0 (or any UID)")
    func orphanedPeer() throws {
        // A listener of our own, so the close surely happens before accept().
        let (listener, port) = Loopback.listener()
        defer { close(listener) }
        var client: RawSocket? = try RawSocket(port: port)
        client?.send("GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n")
        let accepted = accept(listener, nil, nil)
        #expect(accepted >= 0)
        defer { close(accepted) }
        let remote = try SocketAddress(ipAddress: "127.0.0.1", port: Self.peerPort(accepted))
        let local = try SocketAddress(ipAddress: "127.0.0.1", port: port)
        // While the client holds its socket, the kernel names its owner.
        #expect(PeerCredentials.tcpPeer(remote: remote, local: local) == .tcpPeer(uid: getuid()))
        // Closed by its owner: the socket lingers (FIN_WAIT) owned by nobody, and sock_diag reports uid 0, inode 0.
        client = nil
        let evidence = PeerCredentials.tcpPeer(remote: remote, local: local)
        guard case .unknown = evidence else {
            Issue.record("an orphaned peer socket was taken as \(evidence)")
            return
        }
    }

    static func peerPort(_ fd: Int32) -> Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test("SO_PEERCRED on the Unix socket tells UID 1000 from UID 1001", .enabled(if: Loopback.canSwitchUsers, "needs root, setpriv and curl to run clients as other UIDs"))
    func unixSocket() async throws {
        try await withHarness(configure: Self.configure) { h in
            let path = h.directory + "/router.sock"
            chmod(path, 0o666)
            let alpha = try await offPool { try Self.curl(asUID: 1000, ["--unix-socket", path, "http://x/v1/models"]) }
            // beta's only model is served through the Anthropic API: Anthropic's SDK asks, with its version header.
            let beta = try await offPool { try Self.curl(asUID: 1001, ["--unix-socket", path, "-H", "anthropic-version: 2023-06-01", "http://x/v1/models"]) }
            let stranger = try await offPool { try Self.curl(asUID: 1002, ["--unix-socket", path, "http://x/v1/models"]) }
            #expect(alpha.contains("\"id\":\"gpt-test\"") && !alpha.contains("claude-test"))
            #expect(beta.contains("\"id\":\"claude-test\"") && !beta.contains("gpt-test"))
            #expect(stranger.contains("unknown_sandbox"))
        }
    }

    @Test("NETLINK_SOCK_DIAG on TCP loopback tells UID 1000 from UID 1001", .enabled(if: Loopback.canSwitchUsers, "needs root, setpriv and curl to run clients as other UIDs"))
    func tcpLoopback() async throws {
        try await withHarness(configure: Self.configure) { h in
            let url = "http://127.0.0.1:\(h.routerPort)/v1/models"
            let alpha = try await offPool { try Self.curl(asUID: 1000, [url]) }
            let beta = try await offPool { try Self.curl(asUID: 1001, ["-H", "anthropic-version: 2023-06-01", url]) }
            let stranger = try await offPool { try Self.curl(asUID: 1002, [url]) }
            #expect(alpha.contains("\"id\":\"gpt-test\"") && !alpha.contains("claude-test"))
            #expect(beta.contains("\"id\":\"claude-test\"") && !beta.contains("gpt-test"))
            #expect(stranger.contains("unknown_sandbox"))
        }
    }
}
