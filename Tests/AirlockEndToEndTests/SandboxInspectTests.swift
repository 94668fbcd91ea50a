#if canImport(Glibc)
import Glibc
#endif
import AirlockMockUpstream
import AirlockTestSupport
import Foundation
import Testing

/// TLS inspection from inside a real sandbox that holds no token: `airlock run` puts the router's egress CA (public
/// part) into the worker's trust store, curl reaches an HTTPS origin that requires a bearer token only the router
/// has, and what the rules forbid never leaves the router.
@Suite("Sandbox with inspected egress", .timeLimit(.minutes(2)), .serialized)
struct SandboxInspectTests {
    static let canRun = SandboxRouterTests.canRun && TLSOrigin.available

    @Test("inside the sandbox: an inspected host answers with the router's token, forbidden path and method get 403 with the reason, the token never reaches the agent, a host not listed is tunnelled with its own certificate, the CA key is out of reach",
          .enabled(if: canRun, "needs root (namespaces, UID switch), curl, openssl and python3"))
    func inspected() async throws {
        let token = "ghs-router-\(UInt64.random(in: 0...UInt64.max))"
        let origin = try TLSOrigin(names: ["inspected.test", "plain.test"], required: "Bearer " + token)
        let directory = TempDirectory.make()
        chmod(directory, 0o755)
        let key = "sk-sandbox-\(UInt64.random(in: 0...UInt64.max))"
        try TempDirectory.write(directory + "/provider.key", key, mode: 0o600)
        try TempDirectory.write(directory + "/host.token", token, mode: 0o600)
        let mock = try await MockUpstreamServer.start(MockUpstreamConfiguration(requiredKey: key))
        let port = origin.port
        let config = """
            version: 1
            router:
              listeners:
                - tcp: 127.0.0.1:0
              control: {path: \(directory)/control.sock, operator_uids: [0]}
              state_directory: \(directory)/state
              egress:
                resolve: {inspected.test: 127.0.0.1, plain.test: 127.0.0.1}
            tenants: [{name: team}]
            sandboxes:
              - name: worker
                tenant: team
                uids: [480000]
                models: ["gpt-test"]
                egress:
                  allow: ["inspected.test:\(port)", "plain.test:\(port)"]
                  allow_addresses: [127.0.0.1]
                  inspect:
                    - host: "inspected.test:\(port)"
                      rules: [{methods: [GET, POST], paths: ["/repos/acme/*"]}]
                      credential: {file: \(directory)/host.token, scheme: bearer}
                      ca_file: \(origin.caFile)
            upstreams:
              - {name: mock, kind: openai-compatible, base_url: "http://127.0.0.1:\(mock.port)", credential: {file: \(directory)/provider.key}}
            models:
              - {name: gpt-test, api: openai, targets: [{upstream: mock}]}
            receipts: {enabled: false}
            """
        try TempDirectory.write(directory + "/airlock.yaml", config, mode: 0o644)
        let router = try await RouterProcessTests.startRouter(
            RouterProcessTests.Stack(directory: directory, config: directory + "/airlock.yaml", mock: mock)
        )
        mkdir(directory + "/work", 0o755)
        chown(directory + "/work", 480_000, 480_000)
        let stack = SandboxRouterTests.Stack(directory: directory, router: router, mock: mock, origin: mock)
        let caKey = directory + "/state/egress-ca/ca.key"
        let (status, out, err) = try await SandboxRouterTests.run(stack, """
            echo "bundle=$SSL_CERT_FILE git=$GIT_SSL_CAINFO pip=$PIP_CERT requests=$REQUESTS_CA_BUNDLE curlca=$CURL_CA_BUNDLE node=$NODE_EXTRA_CA_CERTS"
            echo "allowed=$(curl -s -o allowed.txt -w '%{http_code}' -H 'Authorization: Bearer agent-guess' https://inspected.test:\(port)/repos/acme/widgets)"
            echo "BODY"; cat allowed.txt; echo "END"
            curl -s -D path.txt -o path.body https://inspected.test:\(port)/repos/other/secrets; cat path.txt path.body
            curl -s -D method.txt -o method.body -X DELETE https://inspected.test:\(port)/repos/acme/widgets; cat method.txt method.body
            curl -s -o /dev/null https://plain.test:\(port)/; echo "plain_verify_exit=$?"
            echo "plain=$(curl -sk -o /dev/null -w '%{http_code}' https://plain.test:\(port)/repos/acme/widgets)"
            curl -sk -v -o /dev/null https://plain.test:\(port)/ 2>&1 | grep -i 'issuer:'
            cat \(caKey) >/dev/null 2>&1 && echo "key=readable" || echo "key=unreadable"
            cat \(directory)/state/egress-ca/ca.pem >/dev/null 2>&1 && echo "state=visible" || echo "state=hidden"
            """)
        #expect(status == 0, "\(err)")
        #expect(out.contains("bundle=/etc/airlock-ca-bundle.pem git=/etc/airlock-ca-bundle.pem pip=/etc/airlock-ca-bundle.pem requests=/etc/airlock-ca-bundle.pem curlca=/etc/airlock-ca-bundle.pem node=/etc/airlock-egress-ca.pem"), "\(out)")
        #expect(out.contains("allowed=200"), "\(out)\n\(err)")
        #expect(!out.contains(token), "the token reached the sandbox: \(out)")
        #expect(!out.contains("agent-guess"), "the agent's own credential reached the origin: \(out)")
        #expect(out.contains("HTTP/1.1 403 Forbidden") && out.contains("x-airlock-reason: path_not_allowed"), "\(out)")
        #expect(out.contains("x-airlock-reason: method_not_allowed"), "\(out)")
        #expect(out.contains("airlock egress: DELETE is not allowed on inspected.test"), "\(out)")
        // Not inspected: the router's CA does not vouch for it; the agent sees the origin's own certificate.
        #expect(out.contains("plain_verify_exit=60"), "\(out)")
        #expect(out.contains("plain=401"), "\(out)")
        #expect(out.contains("issuer: CN=Test origin CA"), "\(out)")
        #expect(out.contains("key=unreadable") && out.contains("state=hidden"), "\(out)")
        let seen = origin.requests()
        #expect(seen.contains("GET /repos/acme/widgets"), "\(seen)")
        #expect(!seen.contains { $0.contains("/repos/other") || $0.hasPrefix("DELETE") }, "\(seen)")
        var st = stat()
        #expect(stat(caKey, &st) == 0 && st.st_mode & 0o777 == 0o600)
        router.signal(SIGTERM)
        #expect(try await router.waitForExit() == 0)
        try await mock.shutdown()
    }
}
