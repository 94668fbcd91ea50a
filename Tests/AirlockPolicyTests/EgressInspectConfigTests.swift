import Foundation
import Testing

@testable import AirlockPolicy

/// `egress.inspect`: what a valid entry looks like, every refusal names its key path, and the request decisions.
@Suite("Egress inspection rules")
struct EgressInspectConfigTests {
    static let valid = AirlockConfigTests.valid.replacingOccurrences(
        of: "    models: [\"gpt\"]\n",
        with: """
                models: ["gpt"]
                egress:
                  allow: ["git.example.com", "*.pkg.example.com"]
                  inspect:
                    - host: git.example.com
                      rules: [{methods: [GET, POST], paths: ["/repos/acme/*"]}]
                      credential: {file: /etc/airlock/git.token, scheme: basic}
                      ca_file: /etc/airlock/git-ca.pem
                    - host: "*.pkg.example.com"
                      rules: [{methods: ["*"], paths: ["/simple/*"]}]

            """
    )

    @Test("a valid entry loads, with its credential among the router's and the scheme it names")
    func loads() throws {
        let loaded = try ConfigLoader.load(text: Self.valid, path: "test.yaml")
        let inspect = loaded.config.sandboxes[0].egress.inspect
        #expect(inspect.count == 2)
        #expect(inspect[0].credential == EgressCredential(source: .file("/etc/airlock/git.token"), scheme: .basic))
        #expect(inspect[1].credential == nil)
        #expect(inspect[0].caFile == "/etc/airlock/git-ca.pem")
    }

    @Test("refusals name the key path and say what to do", arguments: [
        ("host: git.example.com", "host: other.example.com", "sandboxes[0].egress.inspect[0].host", "not covered by `egress.allow`"),
        ("host: git.example.com", "host: \"git.example.com:99999\"", "sandboxes[0].egress.inspect[0].host", "port"),
        ("host: git.example.com", "host: 93.184.216.34", "sandboxes[0].egress.inspect[0].host", "is an address"),
        ("methods: [GET, POST]", "methods: [get]", "sandboxes[0].egress.inspect[0].rules[0].methods[0]", "upper-case"),
        ("methods: [GET, POST]", "methods: []", "sandboxes[0].egress.inspect[0].rules[0].methods", "no method"),
        ("paths: [\"/repos/acme/*\"]", "paths: [\"repos/*\"]", "sandboxes[0].egress.inspect[0].rules[0].paths[0]", "Start it with /"),
        ("paths: [\"/repos/acme/*\"]", "paths: [\"/x?y=1\"]", "sandboxes[0].egress.inspect[0].rules[0].paths[0]", "query"),
        ("rules: [{methods: [\"*\"], paths: [\"/simple/*\"]}]", "rules: []", "sandboxes[0].egress.inspect[1].rules", "no rule"),
        ("{file: /etc/airlock/git.token, scheme: basic}", "{file: git.token}", "sandboxes[0].egress.inspect[0].credential.file", "absolute"),
        ("{file: /etc/airlock/git.token, scheme: basic}", "{file: /k, scheme: digest}", "scheme", "bearer"),
        ("ca_file: /etc/airlock/git-ca.pem", "ca_file: ca.pem", "sandboxes[0].egress.inspect[0].ca_file", "absolute"),
        ("ca_file: /etc/airlock/git-ca.pem", "ca_file: /x\n          follow_redirects: true", "sandboxes[0].egress.inspect[0].follow_redirects", "unknown key"),
    ])
    func refusals(find: String, replace: String, path: String, words: String) {
        let text = Self.valid.replacingOccurrences(of: find, with: replace)
        #expect(text != Self.valid)
        #expect {
            try ConfigLoader.load(text: text, path: "test.yaml")
        } throws: { error in
            "\(error)".contains(path) && "\(error)".contains(words)
        }
    }

    static let entry = EgressInspect(
        host: "git.example.com",
        rules: [
            EgressHTTPRule(methods: ["GET"], paths: ["/repos/acme/*"]),
            EgressHTTPRule(methods: ["POST"], paths: ["/repos/acme/*/git-upload-pack", "/exact"]),
        ]
    )

    @Test("request decisions: methods, path patterns, the query ignored, dot segments and encoded separators refused", arguments: [
        ("GET", "/repos/acme/x", "rule_0"),
        ("GET", "/repos/acme/x/y/z?ref=main", "rule_0"),
        ("GET", "/repos/acme/", "rule_0"),
        ("GET", "/repos/acme", "path_not_allowed"),
        ("GET", "/repos/other/x", "path_not_allowed"),
        ("POST", "/repos/acme/x/git-upload-pack", "rule_1"),
        ("POST", "/repos/acme/x/git-receive-pack", "path_not_allowed"),
        ("POST", "/exact", "rule_1"),
        ("POST", "/exact/more", "path_not_allowed"),
        ("DELETE", "/repos/acme/x", "method_not_allowed"),
        ("get", "/repos/acme/x", "method_not_allowed"),
        ("GET", "/repos/acme/../other/x", "path_not_allowed"),
        ("GET", "/repos/acme/./x", "path_not_allowed"),
        ("GET", "/repos/acme/%2e%2e/other", "path_not_allowed"),
        ("GET", "/repos/acme%2F..%2Fother", "path_not_allowed"),
        ("GET", "/repos/acme/x\\..\\..\\other", "path_not_allowed"),
        ("GET", "https://git.example.com/repos/acme/x", "path_not_allowed"),
        ("GET", "*", "path_not_allowed"),
    ])
    func decisions(method: String, target: String, expected: String) {
        let verdict = EgressInspection.decide(Self.entry, method: method, target: target)
        switch verdict {
        case .allowed(let rule): #expect("rule_\(rule)" == expected, "\(method) \(target)")
        case .refused(let reason, _): #expect(reason == expected, "\(method) \(target)")
        }
    }

    @Test("the first matching entry applies, by host pattern and port; `*` in methods allows any")
    func entries() throws {
        let policy = EgressPolicy(
            allow: ["*.example.com"],
            inspect: [
                EgressInspect(host: "api.example.com", rules: [EgressHTTPRule(methods: ["*"], paths: ["/*"])]),
                EgressInspect(host: "*.example.com:8443", rules: []),
            ]
        )
        let inspection = EgressInspection(policy)
        let api = try #require(EgressTarget.parse(authority: "api.example.com:443"))
        #expect(inspection.entry(for: api)?.index == 0)
        #expect(inspection.entry(for: try #require(EgressTarget.parse(authority: "api.example.com:8443")))?.index == 1)
        #expect(inspection.entry(for: try #require(EgressTarget.parse(authority: "www.example.com:443"))) == nil)
        #expect(EgressInspection.decide(policy.inspect[0], method: "PATCH", target: "/x") == .allowed(rule: 0))
    }

    @Test("an allow pattern covers an inspect pattern only when it admits every target the other matches", arguments: [
        ("git.example.com", "git.example.com", true), ("git.example.com:*", "git.example.com", true),
        ("git.example.com", "git.example.com:8443", false), ("*.example.com", "git.example.com", true),
        ("*.example.com", "*.a.example.com", true), ("*.a.example.com", "*.example.com", false),
        ("example.com", "*.example.com", false), ("git.example.com", "*.example.com", false),
    ])
    func covers(allow: String, inspect: String, covered: Bool) throws {
        let a = try HostPattern.parse(allow).get()
        let b = try HostPattern.parse(inspect).get()
        #expect(a.covers(b) == covered, "\(allow) covers \(inspect)")
    }
}
