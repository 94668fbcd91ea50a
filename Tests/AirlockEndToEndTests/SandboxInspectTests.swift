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

    /// A router whose sandbox `worker` may reach `hosts` on the origin's port (all resolved to loopback) and inspects
    /// them with `inspect` (YAML list items, indented for `egress.inspect`), `host.token` holding `secret`.
    static func start(origin: TLSOrigin, hosts: [String], secret: String, inspect: String) async throws -> SandboxRouterTests.Stack {
        let directory = TempDirectory.make()
        chmod(directory, 0o755)
        let key = "sk-sandbox-\(UInt64.random(in: 0...UInt64.max))"
        try TempDirectory.write(directory + "/provider.key", key, mode: 0o600)
        try TempDirectory.write(directory + "/host.token", secret, mode: 0o600)
        let mock = try await MockUpstreamServer.start(MockUpstreamConfiguration(requiredKey: key))
        let resolve = hosts.map { "\($0): 127.0.0.1" }.joined(separator: ", ")
        let allow = hosts.map { "\"\($0):\(origin.port)\"" }.joined(separator: ", ")
        let config = """
            version: 1
            router:
              listeners:
                - tcp: 127.0.0.1:0
              control: {path: \(directory)/control.sock, operator_uids: [0]}
              state_directory: \(directory)/state
              egress:
                resolve: {\(resolve)}
            tenants: [{name: team}]
            sandboxes:
              - name: worker
                tenant: team
                uids: [480000]
                models: ["gpt-test"]
                egress:
                  allow: [\(allow)]
                  allow_addresses: [127.0.0.1]
                  inspect:
            \(inspect.replacingOccurrences(of: "DIRECTORY", with: directory))
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
        return SandboxRouterTests.Stack(directory: directory, router: router, mock: mock, origin: mock)
    }

    @Test("inside the sandbox: an inspected host answers with the router's token, forbidden path and method get 403 with the reason, the token never reaches the agent, a host not listed is tunnelled with its own certificate, the CA key is out of reach",
          .enabled(if: canRun, "needs root (namespaces, UID switch), curl, openssl and python3"))
    func inspected() async throws {
        let token = "ghs-router-\(UInt64.random(in: 0...UInt64.max))"
        let origin = try TLSOrigin(names: ["inspected.test", "plain.test"], required: "Bearer " + token)
        let port = origin.port
        let stack = try await Self.start(origin: origin, hosts: ["inspected.test", "plain.test"], secret: token, inspect: """
                    - host: "inspected.test:\(port)"
                      rules: [{methods: [GET, POST], paths: ["/repos/acme/*"]}]
                      credential: {file: DIRECTORY/host.token, scheme: bearer}
                      ca_file: \(origin.caFile)
            """)
        let directory = stack.directory
        let router = stack.router
        let mock = stack.mock
        let caKey = directory + "/state/egress-ca/ca.key"
        let (status, out, err) = try await SandboxRouterTests.run(stack, """
            echo "bundle=$SSL_CERT_FILE git=$GIT_SSL_CAINFO pip=$PIP_CERT requests=$REQUESTS_CA_BUNDLE curlca=$CURL_CA_BUNDLE node=$NODE_EXTRA_CA_CERTS"
            echo "allowed=$(curl -s -o allowed.txt -w '%{http_code} %{http_version}' -H 'Authorization: Bearer agent-guess' https://inspected.test:\(port)/repos/acme/widgets)"
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
        // curl takes HTTP/2 when the proxy offers it, as it does with real hosts.
        #expect(out.contains("allowed=200 2"), "\(out)\n\(err)")
        #expect(!out.contains(token), "the token reached the sandbox: \(out)")
        #expect(!out.contains("agent-guess"), "the agent's own credential reached the origin: \(out)")
        #expect(out.contains("HTTP/2 403") && out.contains("x-airlock-reason: path_not_allowed"), "\(out)")
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

    @Test("inside the sandbox: git clone over HTTPS and pip install from an index, both requiring basic auth the sandbox does not have; a push is refused by the rules",
          .enabled(if: canRun && FileManager.default.isExecutableFile(atPath: "/usr/lib/git-core/git-http-backend")
              && FileManager.default.isExecutableFile(atPath: SandboxRouterTests.agentVenv + "/bin/python"),
                   "needs root, curl, openssl, python3, git http-backend and the agent virtual environment"))
    func gitAndPip() async throws {
        let secret = "agent:gho-\(UInt64.random(in: 0...UInt64.max))"
        let basic = "Basic " + Data(secret.utf8).base64EncodedString()
        let origin = try TLSOrigin(names: ["git.test", "pypi.test"], required: basic, content: true)
        let port = origin.port
        let stack = try await Self.start(origin: origin, hosts: ["git.test", "pypi.test"], secret: secret, inspect: """
                    - host: "git.test:\(port)"
                      rules:
                        - {methods: [GET], paths: ["/git/*"]}
                        - {methods: [POST], paths: ["/git/*/git-upload-pack"]}
                      credential: {file: DIRECTORY/host.token, scheme: basic}
                      ca_file: \(origin.caFile)
                    - host: "pypi.test:\(port)"
                      rules: [{methods: [GET], paths: ["/simple/*", "/packages/*"]}]
                      credential: {file: DIRECTORY/host.token, scheme: basic}
                      ca_file: \(origin.caFile)
            """)
        let venvRoot = URL(fileURLWithPath: SandboxRouterTests.agentVenv).deletingLastPathComponent().path
        let policy = stack.directory + "/sandbox.json"
        try TempDirectory.write(policy, """
            {"readonlyPaths": ["\(venvRoot)"], "seccompProfile": "\(SandboxRouterTests.packageRoot)/policies/seccomp/agent-strict.json"}
            """, mode: 0o644)
        let (status, out, err) = try await SandboxRouterTests.run(stack, policy: policy, """
            GIT_TRACE_CURL=$PWD/h2.trace GIT_TRACE_CURL_NO_DATA=1 git -c http.version=HTTP/2 clone -q https://git.test:\(port)/git/repo.git clone 2>&1; echo "clone_exit=$?"
            echo "h2_answers=$(grep -c 'Recv header: HTTP/2 200' h2.trace)"
            git -c http.version=HTTP/1.1 clone -q https://git.test:\(port)/git/repo.git clone11 2>&1; echo "clone11_exit=$?"
            echo "readme=$(cat clone/README)"
            cd clone && echo change >> README && git -c user.email=a@b -c user.name=a commit -qam change
            git push -q origin HEAD 2>&1; echo "push_exit=$?"; cd ..
            \(SandboxRouterTests.agentVenv)/bin/python -m pip install -q --no-cache-dir --disable-pip-version-check --target pkgs --index-url https://pypi.test:\(port)/simple/ airlock-demo-pkg 2>&1; echo "pip_exit=$?"
            PYTHONPATH=pkgs \(SandboxRouterTests.agentVenv)/bin/python -c 'import airlock_demo_pkg; print("pkg=" + airlock_demo_pkg.GREETING)'
            """)
        #expect(status == 0, "\(err)")
        #expect(out.contains("clone_exit=0") && out.contains("clone11_exit=0"), "\(out)\n\(err)")
        // git through libcurl over HTTP/2: the ref advertisement and the upload-pack POST at least.
        let h2Answers = out.split(separator: "\n").first { $0.hasPrefix("h2_answers=") }.flatMap { Int($0.dropFirst(11)) } ?? 0
        #expect(h2Answers >= 2, "\(out)")
        #expect(out.contains("readme=hello from the inspected git server"), "\(out)")
        #expect(!out.contains("push_exit=0") && out.contains("403"), "\(out)")
        #expect(out.contains("pip_exit=0"), "\(out)\n\(err)")
        #expect(out.contains("pkg=installed through the inspected index"), "\(out)")
        #expect(!out.contains(secret) && !out.contains(basic), "\(out)")
        let seen = origin.requests()
        #expect(seen.contains { $0.hasPrefix("POST /git/repo.git/git-upload-pack") }, "\(seen)")
        #expect(!seen.contains { $0.hasPrefix("POST /git/repo.git/git-receive-pack") }, "\(seen)")
        #expect(seen.contains { $0.hasPrefix("GET /packages/airlock_demo_pkg-1.0-py3-none-any.whl") }, "\(seen)")
        stack.router.signal(SIGTERM)
        #expect(try await stack.router.waitForExit() == 0)
        try await stack.mock.shutdown()
    }
}
