#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy
import AirlockReceipts
import AirlockTestSupport
import Foundation
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL
import Testing

@testable import AirlockRouter

/// TLS inspection for listed hosts over real sockets: the router's CA, curl as the agent, a real HTTPS origin
/// (Python's `http.server` with its own CA) that requires a bearer token the agent never has.
@Suite("Egress inspection end to end", .timeLimit(.minutes(2)), .serialized)
struct EgressInspectTests {
    static let canRun = TLSOrigin.available && FileManager.default.isExecutableFile(atPath: "/usr/bin/curl")

    /// `inspected.test` is inspected (GET and POST under /repos/acme/, the token injected), `plain.test` (the same
    /// origin) is only allowed, so it is tunnelled opaquely.
    static func configure(_ c: inout AirlockConfig, _ dir: String, origin: TLSOrigin) {
        c.router.listeners.append(ListenerConfig(kind: .tcp(host: "127.0.0.1", port: 0), role: .egress))
        c.router.egress = EgressSettings(resolve: ["inspected.test": "127.0.0.1", "plain.test": "127.0.0.1", "unverified.test": "127.0.0.1"])
        c.sandboxes[0].egress = EgressPolicy(
            allow: ["inspected.test:\(origin.port)", "plain.test:\(origin.port)", "unverified.test:\(origin.port)"],
            allowAddresses: ["127.0.0.1"],
            inspect: [
                EgressInspect(
                    host: "inspected.test:\(origin.port)",
                    rules: [EgressHTTPRule(methods: ["GET", "POST"], paths: ["/repos/acme/*"])],
                    credential: EgressCredential(source: .file(dir + "/host.token")),
                    caFile: origin.caFile
                ),
                // The system roots do not know the origin's CA: the router must not send the token there.
                EgressInspect(
                    host: "unverified.test:\(origin.port)",
                    rules: [EgressHTTPRule(methods: ["GET"], paths: ["/*"])],
                    credential: EgressCredential(source: .file(dir + "/host.token"))
                ),
            ]
        )
    }

    /// A router whose egress proxy inspects `inspected.test` with a random token, writing signed receipts to
    /// `<directory>/receipts`, and the origin that requires the token.
    static func startWithReceipts() async throws -> (token: String, origin: TLSOrigin, directory: String, harness: Harness) {
        let token = "ghp-router-\(UInt64.random(in: 0...UInt64.max))"
        let origin = try TLSOrigin(names: ["inspected.test", "plain.test"], required: "Bearer " + token)
        let directory = TempDirectory.make()
        try TempDirectory.write(directory + "/host.token", token + "\n", mode: 0o600)
        let signer = try CheckpointSigner.generate(name: "airlock.test/inspect")
        try signer.write(toPrefix: directory + "/signing")
        let h = try await Harness.start(directory: directory, receipts: nil) { c, dir in
            Self.configure(&c, dir, origin: origin)
            c.receipts = ReceiptSettings(directory: dir + "/receipts", origin: "airlock.test/inspect", signingKeys: [dir + "/signing.key"])
        }
        return (token, origin, directory, h)
    }

    /// The `egress.request` receipts in `<directory>/receipts`.
    static func requestReceipts(_ directory: String) throws -> [ReceiptEntry] {
        var requests: [ReceiptEntry] = []
        try LogReader(directory: directory + "/receipts").forEach { entry in
            if entry.kind == "egress", entry["route"]?.stringValue == "egress.request" { requests.append(entry) }
            return true
        }
        return requests
    }

    /// curl with `base` (proxy, CA, HTTP version) and its own `Authorization`: the agent's token is dropped and the
    /// router's injected (its echo masked in place, the token itself never in what curl got); a path the rules do
    /// not allow is refused with a reason the agent can read, before the origin. `ok` and `forbidden` are the status
    /// lines as curl prints them for the version.
    static func expectInjectedAndRefused(_ base: [String], url: String, token: String, ok: String, forbidden: String) async throws {
        let allowed = try await Self.curl(base + ["-i", "-H", "Authorization: Bearer agent-guess", "\(url)/repos/acme/widgets"])
        #expect(allowed.hasPrefix("HTTP/1.1 200 Connection established"), "\(allowed)")
        #expect(allowed.contains(ok), "\(allowed)")
        #expect(!allowed.contains(token), "the token reached the agent: \(allowed)")
        #expect(!allowed.contains("agent-guess"), "\(allowed)")
        #expect(allowed.contains("saw Bearer ****"), "\(allowed)")
        let path = try await Self.curl(base + ["-i", "\(url)/repos/other/secrets"])
        #expect(path.contains(forbidden), "\(path)")
        #expect(path.contains("x-airlock-reason: path_not_allowed"), "\(path)")
        #expect(path.contains("airlock egress: GET /repos/other/secrets is not allowed"), "\(path)")
    }

    /// TCP connections in state ESTABLISHED whose remote port is `port`, on this machine (/proc/net/tcp).
    static func establishedConnections(toPort port: Int) -> Int {
        // procfs files report no size, so they are read to their end rather than by their length.
        guard let handle = FileHandle(forReadingAtPath: "/proc/net/tcp") else { return -1 }
        let table = String(decoding: readToEnd(handle), as: UTF8.self)
        try? handle.close()
        let remote = String(format: ":%04X", port)
        return table.split(separator: "\n").dropFirst().filter { line in
            let columns = line.split(separator: " ", omittingEmptySubsequences: true)
            return columns.count > 3 && columns[2].hasSuffix(remote) && columns[3] == "01"
        }.count
    }

    static func curl(_ arguments: [String]) async throws -> String {
        try await offPool {
            let curl = try Spawn.run(
                "/usr/bin/curl", ["-s", "--max-time", "15"] + arguments, environment: ProcessInfo.processInfo.environment,
                seconds: 30)
            return curl.output + "\nexit=\(curl.status)"
        }
    }

    @Test("the token is injected, forbidden paths and methods are refused before the origin, the token never reaches the agent, a host not listed is tunnelled opaquely, one receipt per request", .enabled(if: canRun, "needs openssl, python3 and curl"))
    func inspect() async throws {
        let (token, origin, directory, h) = try await Self.startWithReceipts()
        let proxy = EgressProxyTests.egressPort(h)
        let ca = directory + "/state/egress-ca/ca.pem"
        let key = directory + "/state/egress-ca/ca.key"
        var st = stat()
        #expect(stat(key, &st) == 0 && st.st_mode & 0o777 == 0o600)
        // HTTP/1.1 here; the test after this one covers HTTP/2, which curl takes when it is offered.
        let base = ["-x", "http://127.0.0.1:\(proxy)", "--cacert", ca, "--http1.1"]
        let url = "https://inspected.test:\(origin.port)"

        try await Self.expectInjectedAndRefused(base, url: url, token: token, ok: "HTTP/1.1 200 OK", forbidden: "HTTP/1.1 403 Forbidden")

        // A client that offers only HTTP/1.1 by ALPN gets it.
        let h1 = try await Self.curl(base + ["-o", "/dev/null", "-w", "%{http_code} %{http_version}", "\(url)/repos/acme/widgets"])
        #expect(h1.hasPrefix("200 1.1"), "\(h1)")

        // A POST under the prefix, with a body.
        let posted = try await Self.curl(base + ["-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "0000", "\(url)/repos/acme/widgets/git-upload-pack"])
        #expect(posted.hasPrefix("200"), "\(posted)")

        // Forbidden method: 403 with a reason the agent can read; the origin never sees it.
        let method = try await Self.curl(base + ["-i", "-X", "DELETE", "\(url)/repos/acme/widgets"])
        #expect(method.contains("HTTP/1.1 403 Forbidden"), "\(method)")
        #expect(method.contains("x-airlock-reason: method_not_allowed"), "\(method)")
        let dots = try await Self.curl(base + ["-i", "--path-as-is", "\(url)/repos/acme/../other/x"])
        #expect(dots.contains("x-airlock-reason: path_not_allowed"), "\(dots)")

        // No redirect is followed: the 302 comes back as it is.
        let redirect = try await Self.curl(base + ["-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "\(url)/repos/acme/redirect"])
        #expect(redirect.hasPrefix("302 https://elsewhere.test/"), "\(redirect)")

        // Smuggling shapes are refused as on the agent listener.
        let smuggle = try await Self.curl(base + ["-i", "-H", "Transfer-Encoding: chunked", "-H", "Content-Length: 4", "--data-binary", "0000", "\(url)/repos/acme/widgets"])
        #expect(smuggle.contains("HTTP/1.1 400"), "\(smuggle)")

        // Not listed for inspection: an opaque tunnel, the agent sees the origin's own certificate.
        let opaque = try await Self.curl(base.prefix(2) + ["--cacert", origin.caFile, "-o", "/dev/null", "-w", "%{http_code}", "https://plain.test:\(origin.port)/repos/acme/widgets"])
        #expect(opaque.hasPrefix("401"), "\(opaque)")
        let notOurs = try await Self.curl(base + ["-o", "/dev/null", "-w", "%{http_code}", "https://plain.test:\(origin.port)/"])
        #expect(notOurs.contains("exit=60"), "the router's CA must not vouch for a tunnelled host: \(notOurs)")

        // A host whose certificate does not verify: 502 with the reason, and nothing (no token) is sent to it.
        let unverified = try await Self.curl(base + ["-i", "https://unverified.test:\(origin.port)/repos/acme/widgets"])
        #expect(unverified.contains("HTTP/1.1 502 Bad Gateway") && unverified.contains("x-airlock-reason: upstream_tls_failed"), "\(unverified)")

        let seen = origin.requests()
        #expect(seen.count == 5, "only the allowed GETs, POST, redirect and the opaque request reach the origin: \(seen)")
        #expect(seen.contains("GET /repos/acme/widgets"))
        #expect(!seen.contains { $0.contains("/repos/other") || $0.hasPrefix("DELETE") || $0.contains("..") }, "\(seen)")

        try await Task.sleep(for: .milliseconds(300))
        await h.stop()
        let requests = try Self.requestReceipts(directory)
        let ok = requests.filter { $0["decision"]?.stringValue == "ok" }
        let denied = requests.filter { $0["decision"]?.stringValue == "deny" }
        let summary = requests.map { "\($0["method"]?.stringValue ?? "") \($0["decision"]?.stringValue ?? "") \($0["reason"]?.stringValue ?? "")" }
        #expect(ok.count == 4, "\(summary)")
        // Path, method, dot segments. The CL+TE request never became a request: NIOHTTP1 refused its head with 400
        // and closed, as on the agent listener.
        #expect(denied.count == 3, "\(summary)")
        let first = try #require(ok.first)
        #expect(first["method"]?.stringValue == "GET" && first["host"]?.stringValue == "inspected.test")
        #expect(first["status"] == .integer(200) && first["reason"]?.stringValue == "rule_0")
        #expect((first["bytes_down"]?.integerValue ?? 0) > 0 && first["request_hmac"] != nil && first["request_index"] != nil)
        let post = try #require(ok.first { $0["method"]?.stringValue == "POST" })
        #expect(post["bytes_up"] == .integer(4))
        #expect(denied.contains { $0["reason"]?.stringValue == "method_not_allowed" && $0["method"]?.stringValue == "DELETE" && $0["status"] == .integer(403) })
        #expect(requests.contains { $0["decision"]?.stringValue == "error" && $0["reason"]?.stringValue == "upstream_tls_failed" && $0["host"]?.stringValue == "unverified.test" })
    }

    @Test("HTTP/2 from the agent: the token injected and masked, a forbidden path refused in a readable answer, eight requests multiplexed on one connection, a body sent; streams carrying CR/LF in a field, connection-specific fields, a space in the path or more data than their content-length are reset and reach the origin in no form; a header block over the limit ends the connection; forty streams opened and reset at once hold at most 16 origin connections; one receipt per request", .enabled(if: canRun, "needs openssl, python3 and curl"))
    func http2() async throws {
        let (token, origin, directory, h) = try await Self.startWithReceipts()
        let proxy = EgressProxyTests.egressPort(h)
        let ca = directory + "/state/egress-ca/ca.pem"
        let base = ["-x", "http://127.0.0.1:\(proxy)", "--cacert", ca, "--http2"]
        let url = "https://inspected.test:\(origin.port)"

        try await Self.expectInjectedAndRefused(base, url: url, token: token, ok: "HTTP/2 200", forbidden: "HTTP/2 403")

        // Parallel transfers on one connection: curl multiplexes them as streams.
        var parallel = base + ["-Z", "--parallel-max", "8", "-w", "%{http_version} %{http_code} %{num_connects}\n"]
        for i in 0..<8 { parallel += ["-o", "/dev/null", "\(url)/repos/acme/m\(i)"] }
        let multiplexed = try await Self.curl(parallel)
        let lines = multiplexed.split(separator: "\n").filter { $0.hasPrefix("2 ") }
        #expect(lines.count == 8 && lines.allSatisfy { $0.hasPrefix("2 200") }, "\(multiplexed)")
        #expect(lines.filter { $0.hasSuffix(" 1") }.count == 1, "one connection for the eight: \(multiplexed)")

        let posted = try await Self.curl(base + ["-o", "/dev/null", "-w", "%{http_code} %{http_version}", "--data-binary", "0000", "\(url)/repos/acme/widgets/git-upload-pack"])
        #expect(posted.hasPrefix("200 2"), "\(posted)")

        // What an attacker's HTTP/2 client sends, which no conforming client would: each must end in a reset, not in
        // a request the origin reads differently.
        let attacks: [(String, [(String, String)], String?)] = [
            ("crlf", [("x-note", "a\r\nx-injected: 1")], nil),
            ("lf", [("x-note", "a\nGET /repos/acme/smuggled-lf HTTP/1.1")], nil),
            ("te", [("transfer-encoding", "chunked")], "0\r\n\r\n"),
            ("connection", [("connection", "keep-alive, x-note")], nil),
            ("cl", [("content-length", "4")], "0000GET /repos/acme/smuggled-cl HTTP/1.1\r\nhost: inspected.test\r\n\r\n"),
        ]
        for (name, fields, body) in attacks {
            let outcome = try await H2Probe.send(
                proxyPort: proxy, authority: "inspected.test:\(origin.port)", caFile: ca,
                method: body == nil ? "GET" : "POST", path: "/repos/acme/attack-\(name)", fields: fields, body: body
            )
            #expect(outcome.hasPrefix("reset") || outcome.hasPrefix("closed"), "\(name): \(outcome)")
        }
        let space = try await H2Probe.send(
            proxyPort: proxy, authority: "inspected.test:\(origin.port)", caFile: ca,
            method: "GET", path: "/repos/acme/attack-space HTTP/1.1", fields: [], body: nil
        )
        #expect(space.hasPrefix("reset") || space.hasPrefix("closed"), "space: \(space)")
        // A header block over the router's limit (router.limits.max_header_bytes, 16 KiB here, also sent as
        // SETTINGS_MAX_HEADER_LIST_SIZE), in a HEADERS frame and a CONTINUATION, which NIOHTTP2 will not send: raw
        // frames. The connection ends with GOAWAY; nothing is buffered for it or sent on.
        for size in [20 << 10, 200 << 10] {
            let big = try await H2Probe.raw(
                proxyPort: proxy, authority: "inspected.test:\(origin.port)", caFile: ca,
                fields: [(":method", "GET"), (":scheme", "https"), (":authority", "inspected.test:\(origin.port)"),
                         (":path", "/repos/acme/attack-big"), ("x-big", String(repeating: "a", count: size))]
            )
            #expect(big.contains("goaway") && !big.contains("headers"), "\(size): \(big)")
        }
        // The raw client itself works: a small block gets its answer.
        let small = try await H2Probe.raw(
            proxyPort: proxy, authority: "inspected.test:\(origin.port)", caFile: ca,
            fields: [(":method", "GET"), (":scheme", "https"), (":authority", "inspected.test:\(origin.port)"),
                     (":path", "/repos/acme/probe-raw"), ("x-note", String(repeating: "a", count: 1000))]
        )
        #expect(small.contains("headers") && !small.contains("goaway"), "\(small)")
        // Rapid reset: forty streams opened and reset at once, then one request. Each stream would want an origin
        // connection; the pool holds at most 16 (InspectedH2Connection.maxStreams), and the request is answered.
        let originPort = origin.port
        let reset = try await H2Probe.raw(
            proxyPort: proxy, authority: "inspected.test:\(origin.port)", caFile: ca,
            fields: [(":method", "GET"), (":scheme", "https"), (":authority", "inspected.test:\(origin.port)"),
                     (":path", "/repos/acme/after-resets")],
            resetFirst: 40,
            whileOpen: { " connections=\(Self.establishedConnections(toPort: originPort))" }
        )
        let connections = reset.split(separator: "=").last.flatMap { Int($0) } ?? -1
        #expect(reset.contains("headers") && !reset.contains("goaway") && (1...16).contains(connections), "\(reset)")
        // The probe itself works: the same client, with nothing malformed, gets its answer.
        let control = try await H2Probe.send(
            proxyPort: proxy, authority: "inspected.test:\(origin.port)", caFile: ca,
            method: "GET", path: "/repos/acme/probe", fields: [("x-note", "fine")], body: nil
        )
        #expect(control == "status=200", "\(control)")

        let seen = origin.requests()
        // The content-length case's head is a valid one and went out before its DATA came: the origin saw it, and
        // the stream's reset closed that connection before any byte of the body, let alone the request hidden in it.
        #expect(!seen.contains { $0.contains("smuggled") || ($0.contains("attack") && $0 != "POST /repos/acme/attack-cl") }, "\(seen)")
        #expect(seen.filter { $0.hasPrefix("GET /repos/acme/m") }.count == 8, "\(seen)")
        #expect(seen.contains("GET /repos/acme/probe") && seen.contains("GET /repos/acme/probe-raw") && seen.contains("GET /repos/acme/after-resets"), "\(seen)")

        try await Task.sleep(for: .milliseconds(300))
        await h.stop()
        let requests = try Self.requestReceipts(directory)
        let summary = requests.map { "\($0["method"]?.stringValue ?? "") \($0["decision"]?.stringValue ?? "") \($0["reason"]?.stringValue ?? "") \($0["status"]?.integerValue ?? 0)" }
        // The first GET, eight in parallel, the POST, the three probes; the forbidden path. The reset streams sent
        // nothing to the origin (each was reset before its session came, or before its head was read).
        #expect(requests.filter { $0["decision"]?.stringValue == "ok" && $0["status"] == .integer(200) }.count == 13, "\(summary)")
        #expect(requests.filter { $0["decision"]?.stringValue == "deny" }.count == 1, "\(summary)")
        let post = try #require(requests.first { $0["method"]?.stringValue == "POST" && $0["decision"]?.stringValue == "ok" })
        #expect(post["bytes_up"] == .integer(4), "\(summary)")
    }

    @Test("a large answer streams through, the secret in its middle masked; a request body is streamed to the host, chunked or not; over HTTP/1.1 and HTTP/2", .enabled(if: canRun, "needs openssl, python3 and curl"))
    func large() async throws {
        let token = "ghp-router-\(UInt64.random(in: 0...UInt64.max))"
        let origin = try TLSOrigin(names: ["inspected.test", "plain.test"], required: "Bearer " + token)
        try await withHarness(configure: { c, dir in
            try TempDirectory.write(dir + "/host.token", token, mode: 0o600)
            Self.configure(&c, dir, origin: origin)
        }) { h in
            let upload = h.directory + "/upload.bin"
            try TempDirectory.write(upload, String(repeating: "z", count: 900_000), mode: 0o600)
            for version in [("--http1.1", "1.1"), ("--http2", "2")] {
                let base = ["-x", "http://127.0.0.1:\(EgressProxyTests.egressPort(h))", "--cacert", h.directory + "/state/egress-ca/ca.pem", version.0]
                let url = "https://inspected.test:\(origin.port)/repos/acme/big?size=\(16 << 20)"
                let out = h.directory + "/big.out"
                let got = try await Self.curl(base + ["-o", out, "-w", "%{http_code} %{http_version} %{size_download}", url])
                // Whole 100-byte lines, and the marker line between the halves.
                let expected = (16 << 20) / 200 * 200 + 2 + "secret Bearer ".utf8.count + token.utf8.count
                #expect(got.hasPrefix("200 \(version.1) \(expected)"), "\(got)")
                let body = try String(contentsOfFile: out, encoding: .utf8)
                #expect(!body.contains(token))
                #expect(body.contains("secret Bearer ****"))
                // HTTP/2 has no chunked encoding: curl leaves the header out and sends DATA frames.
                for extra in [[String](), ["-H", "Transfer-Encoding: chunked"]] {
                    let sent = try await Self.curl(base + ["-o", "/dev/null", "-D", "-", "--data-binary", "@" + upload] + extra + ["https://inspected.test:\(origin.port)/repos/acme/big?size=100"])
                    #expect(sent.contains("x-upload-bytes: 900000"), "\(version.0) \(extra): \(sent)")
                }
            }
        }
    }

    @Test("the CA: made once with its key 0600, kept across starts, refused when others can read the key, replaced by rotate")
    func authority() throws {
        let directory = TempDirectory.make()
        let state = directory + "/state"
        let first = try EgressCA.loadOrCreate(stateDirectory: state)
        let again = try EgressCA.loadOrCreate(stateDirectory: state)
        #expect(first.certificatePEM == again.certificatePEM)
        let paths = EgressCA.paths(stateDirectory: state)
        var st = stat()
        #expect(stat(paths.key, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(stat(paths.certificate, &st) == 0 && st.st_mode & 0o777 == 0o644)
        chmod(paths.key, 0o640)
        #expect { try EgressCA.loadOrCreate(stateDirectory: state) } throws: { "\($0)".contains("accessible to other users") && "\($0)".contains("airlock egress ca rotate") }
        _ = try EgressCertificateAuthority.rotate(stateDirectory: state, user: nil)
        let rotated = try EgressCA.loadOrCreate(stateDirectory: state)
        #expect(rotated.certificatePEM != first.certificatePEM)
        #expect(stat(paths.key, &st) == 0 && st.st_mode & 0o777 == 0o600)
        // A leaf per host, cached.
        let leaf = try rotated.serverContext(for: "a.test")
        #expect(try rotated.serverContext(for: "a.test") === leaf)
        #expect(try rotated.serverContext(for: "b.test") !== leaf)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// An HTTP/2 client that sends what conforming clients refuse to (its own validation off): through the egress proxy's
/// CONNECT, TLS with ALPN `h2` to the router's leaf, one stream; reports `status=N`, `reset=<code>`, or `closed`.
enum H2Probe {
    /// A socket through the proxy's CONNECT to `authority`, after its 200, for NIO to take.
    static func tunnel(proxyPort: Int, authority: String) async throws -> Int32 {
        try await offPool { () throws -> Int32 in
            let socket = try RawSocket(port: proxyPort)
            socket.send("CONNECT \(authority) HTTP/1.1\r\nhost: \(authority)\r\n\r\n")
            let answer = socket.readUntil("\r\n\r\n")
            guard answer.hasPrefix("HTTP/1.1 200") else { throw TestSupportError("CONNECT: \(answer)") }
            return dup(socket.fd)
        }
    }

    static func send(
        proxyPort: Int, authority: String, caFile: String, method: String, path: String, fields: [(String, String)], body: String?
    ) async throws -> String {
        let socket = try await tunnel(proxyPort: proxyPort, authority: authority)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let result = try await exchange(group: group, socket: socket, authority: authority, caFile: caFile, method: method, path: path, fields: fields, body: body)
            try? await group.shutdownGracefully()
            return result
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    private static func exchange(
        group: MultiThreadedEventLoopGroup, socket: Int32, authority: String, caFile: String, method: String, path: String,
        fields: [(String, String)], body: String?
    ) async throws -> String {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        tls.applicationProtocols = ["h2"]
        let context = try NIOSSLContext(configuration: tls)
        let host = String(authority.split(separator: ":")[0])
        let outcome = group.next().makePromise(of: String.self)
        // TLS and HTTP/2 together, before the first byte is read: the router's SETTINGS must meet NIOHTTP2.
        let (channel, multiplexer) = try await ClientBootstrap(group: group).withConnectedSocket(socket) { channel in
            channel.eventLoop.makeCompletedFuture {
                var configuration = NIOHTTP2Handler.ConnectionConfiguration()
                configuration.headerBlockValidation = .disabled
                configuration.contentLengthValidation = .disabled
                let sync = channel.pipeline.syncOperations
                try sync.addHandler(NIOSSLClientHandler(context: context, serverHostname: host))
                let multiplexer = try sync.configureHTTP2Pipeline(
                    mode: .client, connectionConfiguration: configuration, streamConfiguration: .init()
                ) { $0.eventLoop.makeSucceededVoidFuture() }
                return (channel, multiplexer)
            }
        }
        channel.closeFuture.whenComplete { _ in outcome.succeed("closed") }
        let stream = try await channel.eventLoop.flatSubmit {
            multiplexer.createStreamChannel { stream in
                stream.eventLoop.makeCompletedFuture {
                    try stream.pipeline.syncOperations.addHandler(Collector(outcome: outcome))
                }
            }
        }.get()
        var headers = HPACKHeaders([(":method", method), (":scheme", "https"), (":authority", authority), (":path", path)])
        for (name, value) in fields { headers.add(name: name, value: value) }
        let sent = stream.eventLoop.makePromise(of: Void.self)
        sent.futureResult.whenFailure { outcome.succeed("unsent=\($0)") }
        stream.write(HTTP2Frame.FramePayload.headers(.init(headers: headers, endStream: body == nil)), promise: sent)
        if let body {
            stream.write(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer(string: body)), endStream: true)), promise: nil)
        }
        stream.flush()
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(10)) { outcome.succeed("timeout") }
        let result = try await outcome.futureResult.get()
        timeout.cancel()
        try? await channel.close()
        return result
    }

    /// Sends the client preface, an empty SETTINGS, and `fields` as one header block (HPACK literals, no Huffman) in a
    /// HEADERS frame and as many CONTINUATION frames as 16 KiB frames need, ending the stream; then reads until the
    /// router closes or 5 s pass. Reports the frame types the router sent (`settings`, `headers`, `rst`, `goaway`,
    /// ...) and `closed` if it closed.
    /// `resetFirst` streams come first, each opened by a HEADERS frame and reset at once by the client (RST_STREAM
    /// CANCEL); `whileOpen` runs once the answer came, before the connection closes, and its text is reported too.
    static func raw(
        proxyPort: Int, authority: String, caFile: String, fields: [(String, String)], resetFirst: Int = 0,
        whileOpen: @escaping @Sendable () -> String = { "" }
    ) async throws -> String {
        let socket = try await tunnel(proxyPort: proxyPort, authority: authority)
        func integer(_ value: Int, prefix: UInt8, bits: Int) -> [UInt8] {
            let limit = (1 << bits) - 1
            if value < limit { return [prefix | UInt8(value)] }
            var out: [UInt8] = [prefix | UInt8(limit)]
            var rest = value - limit
            while rest >= 128 {
                out.append(UInt8(rest & 0x7F) | 0x80)
                rest >>= 7
            }
            return out + [UInt8(rest)]
        }
        var block: [UInt8] = []
        for (name, value) in fields {
            block += [0x00] + integer(name.utf8.count, prefix: 0, bits: 7) + Array(name.utf8)
            block += integer(value.utf8.count, prefix: 0, bits: 7) + Array(value.utf8)
        }
        func frame(_ type: UInt8, _ flags: UInt8, stream: UInt32, _ payload: ArraySlice<UInt8>) -> [UInt8] {
            let n = payload.count
            return [UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF), type, flags,
                    UInt8(stream >> 24), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF)] + payload
        }
        var bytes = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + frame(4, 0, stream: 0, [])
        for index in 0..<resetFirst {
            let stream = UInt32(2 * index + 1)
            bytes += frame(1, 0x4, stream: stream, block[...]) + frame(3, 0, stream: stream, [0, 0, 0, 8])
        }
        let main = UInt32(2 * resetFirst + 1)
        var offset = 0
        repeat {
            let end = min(offset + 16_384, block.count)
            let first = offset == 0
            let last = end == block.count
            bytes += frame(first ? 1 : 9, (first ? 0x1 : 0) | (last ? 0x4 : 0), stream: main, block[offset..<end])
            offset = end
        } while offset < block.count
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        tls.applicationProtocols = ["h2"]
        let context = try NIOSSLContext(configuration: tls)
        let host = String(authority.split(separator: ":")[0])
        let received = group.next().makePromise(of: [UInt8].self)
        let ended = group.next().makePromise(of: Void.self)
        do {
            let channel = try await ClientBootstrap(group: group).withConnectedSocket(socket) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        NIOSSLClientHandler(context: context, serverHostname: host), Bytes(received: received, ended: ended),
                    ])
                    return channel
                }
            }
            try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
            let timeout = channel.eventLoop.scheduleTask(in: .seconds(5)) { ended.succeed(()) }
            try await ended.futureResult.get()
            timeout.cancel()
            let observed = whileOpen()
            channel.close(promise: nil)
            let got = try await received.futureResult.get()
            try? await group.shutdownGracefully()
            var kinds: [String] = []
            var at = 0
            while at + 9 <= got.count {
                let length = Int(got[at]) << 16 | Int(got[at + 1]) << 8 | Int(got[at + 2])
                let names: [UInt8: String] = [0: "data", 1: "headers", 3: "rst", 4: "settings", 6: "ping", 7: "goaway", 8: "window"]
                kinds.append(names[got[at + 3]] ?? "type\(got[at + 3])")
                at += 9 + length
            }
            return kinds.joined(separator: " ") + " closed" + observed
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Collects what the router sends until the connection closes.
    final class Bytes: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let received: EventLoopPromise<[UInt8]>
        let ended: EventLoopPromise<Void>
        var bytes: [UInt8] = []
        init(received: EventLoopPromise<[UInt8]>, ended: EventLoopPromise<Void>) {
            self.received = received
            self.ended = ended
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            bytes += unwrapInboundIn(data).readableBytesView
            // The end of stream 1 (END_STREAM on its DATA or HEADERS, or its reset) or of the connection (GOAWAY):
            // nothing more to wait for.
            var at = 0
            while at + 9 <= bytes.count {
                let type = bytes[at + 3]
                let flags = bytes[at + 4]
                if type == 7 || type == 3 || ((type == 0 || type == 1) && flags & 0x1 != 0) {
                    ended.succeed(())
                    return
                }
                at += 9 + (Int(bytes[at]) << 16 | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]))
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            ended.succeed(())
            received.succeed(bytes)
        }
    }

    final class Collector: ChannelInboundHandler {
        typealias InboundIn = HTTP2Frame.FramePayload
        let outcome: EventLoopPromise<String>
        init(outcome: EventLoopPromise<String>) { self.outcome = outcome }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .headers(let headers):
                if let status = headers.headers.first(name: ":status") { outcome.succeed("status=\(status)") }
            case .rstStream(let code):
                outcome.succeed("reset=\(code)")
            default:
                break
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            outcome.succeed("reset=\(error)")
        }

        func channelInactive(context: ChannelHandlerContext) {
            outcome.succeed("closed")
        }
    }
}
