#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy
import AirlockReceipts
import AirlockTestSupport
import Foundation
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

    static func curl(_ arguments: [String]) async throws -> String {
        try await offPool {
            let curl = Process()
            curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            curl.arguments = ["-s", "--max-time", "15"] + arguments
            let pipe = Pipe()
            curl.standardOutput = pipe
            curl.standardError = FileHandle.nullDevice
            try curl.run()
            let data = readToEnd(pipe.fileHandleForReading)
            curl.waitUntilExit()
            return String(decoding: data, as: UTF8.self) + "\nexit=\(curl.terminationStatus)"
        }
    }

    @Test("the token is injected, forbidden paths and methods are refused before the origin, the token never reaches the agent, a host not listed is tunnelled opaquely, one receipt per request", .enabled(if: canRun, "needs openssl, python3 and curl"))
    func inspect() async throws {
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
        let proxy = EgressProxyTests.egressPort(h)
        let ca = directory + "/state/egress-ca/ca.pem"
        let key = directory + "/state/egress-ca/ca.key"
        var st = stat()
        #expect(stat(key, &st) == 0 && st.st_mode & 0o777 == 0o600)
        let base = ["-x", "http://127.0.0.1:\(proxy)", "--cacert", ca]
        let url = "https://inspected.test:\(origin.port)"

        // Allowed: the agent sends a token of its own, which is dropped; the router's is injected.
        let allowed = try await Self.curl(base + ["-i", "-H", "Authorization: Bearer agent-guess", "\(url)/repos/acme/widgets"])
        #expect(allowed.hasPrefix("HTTP/1.1 200 Connection established"), "\(allowed)")
        #expect(allowed.contains("HTTP/1.1 200 OK"), "\(allowed)")
        #expect(!allowed.contains(token), "the token reached the agent: \(allowed)")
        #expect(!allowed.contains("agent-guess"), "\(allowed)")
        // The echo of the secret is there, masked in place.
        #expect(allowed.contains("saw Bearer ****"), "\(allowed)")

        // A client that offers h2 by ALPN is answered in HTTP/1.1, the only protocol the inspected connection offers.
        let h2 = try await Self.curl(base + ["--http2", "-o", "/dev/null", "-w", "%{http_code} %{http_version}", "\(url)/repos/acme/widgets"])
        #expect(h2.hasPrefix("200 1.1"), "\(h2)")

        // A POST under the prefix, with a body.
        let posted = try await Self.curl(base + ["-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "0000", "\(url)/repos/acme/widgets/git-upload-pack"])
        #expect(posted.hasPrefix("200"), "\(posted)")

        // Forbidden path and method: 403 with a reason the agent can read; the origin never sees them.
        let path = try await Self.curl(base + ["-i", "\(url)/repos/other/secrets"])
        #expect(path.contains("HTTP/1.1 403 Forbidden"), "\(path)")
        #expect(path.contains("x-airlock-reason: path_not_allowed"), "\(path)")
        #expect(path.contains("airlock egress: GET /repos/other/secrets is not allowed"), "\(path)")
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
        var requests: [ReceiptEntry] = []
        try LogReader(directory: directory + "/receipts").forEach { entry in
            if entry.kind == "egress", entry["route"]?.stringValue == "egress.request" { requests.append(entry) }
            return true
        }
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

    @Test("a large answer streams through, the secret in its middle masked; a request body is streamed to the host, chunked or not", .enabled(if: canRun, "needs openssl, python3 and curl"))
    func large() async throws {
        let token = "ghp-router-\(UInt64.random(in: 0...UInt64.max))"
        let origin = try TLSOrigin(names: ["inspected.test", "plain.test"], required: "Bearer " + token)
        try await withHarness(configure: { c, dir in
            try TempDirectory.write(dir + "/host.token", token, mode: 0o600)
            Self.configure(&c, dir, origin: origin)
        }) { h in
            let base = ["-x", "http://127.0.0.1:\(EgressProxyTests.egressPort(h))", "--cacert", h.directory + "/state/egress-ca/ca.pem"]
            let url = "https://inspected.test:\(origin.port)/repos/acme/big?size=\(16 << 20)"
            let out = h.directory + "/big.out"
            let got = try await Self.curl(base + ["-o", out, "-w", "%{http_code} %{size_download}", url])
            // Whole 100-byte lines, and the marker line between the halves.
            let expected = (16 << 20) / 200 * 200 + 2 + "secret Bearer ".utf8.count + token.utf8.count
            #expect(got.hasPrefix("200 \(expected)"), "\(got)")
            let body = try String(contentsOfFile: out, encoding: .utf8)
            #expect(!body.contains(token))
            #expect(body.contains("secret Bearer ****"))
            let upload = h.directory + "/upload.bin"
            try TempDirectory.write(upload, String(repeating: "z", count: 900_000), mode: 0o600)
            for extra in [[String](), ["-H", "Transfer-Encoding: chunked"]] {
                let sent = try await Self.curl(base + ["-o", "/dev/null", "-D", "-", "--data-binary", "@" + upload] + extra + ["https://inspected.test:\(origin.port)/repos/acme/big?size=100"])
                #expect(sent.contains("x-upload-bytes: 900000"), "\(extra): \(sent)")
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
