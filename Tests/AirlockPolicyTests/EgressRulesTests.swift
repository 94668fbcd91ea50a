import Testing

@testable import AirlockPolicy

/// The egress allowlist and the SSRF guard as pure decisions.
@Suite("Egress rules")
struct EgressRulesTests {
    static let rules = EgressRules(
        EgressPolicy(
            allow: ["pypi.org", "files.pythonhosted.org:443", "*.github.com:*", "example.test:8080", "93.184.216.34:443", "[2606:2800:220:1::1]:443"],
            deny: ["evil.github.com", "*.internal.github.com:*"]
        )
    )

    static func decide(_ authority: String) -> EgressRules.Decision? {
        EgressTarget.parse(authority: authority).map(rules.decide)
    }

    @Test("allowlist decisions: wildcards, ports, deny over allow, case, trailing dots", arguments: [
        ("pypi.org:443", true), ("PyPI.org:443", true), ("pypi.org.:443", true), ("pypi.org:80", false),
        ("www.pypi.org:443", false), ("files.pythonhosted.org:443", true), ("files.pythonhosted.org:8443", false),
        ("api.github.com:443", true), ("api.github.com:22", true), ("github.com:443", false), ("x.y.github.com:443", true),
        ("evil.github.com:443", false), ("EVIL.GITHUB.COM.:443", false), ("a.internal.github.com:443", false),
        ("example.test:8080", true), ("example.test:443", false), ("notgithub.com:443", false), ("githubxcom:443", false),
        ("93.184.216.34:443", true), ("93.184.216.34:80", false), ("[2606:2800:220:1::1]:443", true),
        ("[2606:2800:220:1:0:0:0:1]:443", true), ("unknown.example:443", false),
    ])
    func allowlist(authority: String, allowed: Bool) throws {
        let decision = try #require(Self.decide(authority))
        #expect((decision == .allowed) == allowed, "\(authority) → \(decision)")
    }

    static let everything = EgressRules(
        EgressPolicy(allow: [
            "127.0.0.1:*", "10.0.0.1:*", "169.254.169.254:*", "[::1]:*", "[fd00:ec2::254]:*", "[::ffff:127.0.0.1]:*",
            "0.0.0.0:*", "100.64.0.1:*", "192.168.1.1:*", "172.16.0.1:*", "224.0.0.1:*", "[fe80::1]:*", "[fc00::1]:*",
            "[64:ff9b::a9fe:a9fe]:*", "[2002:7f00:1::]:*", "[::7f00:1]:*", "255.255.255.255:*", "[ff02::1]:*",
            "[2001:0:4136:e378:8000:63bf:3fff:fdd2]:*",
        ])
    )

    @Test("every spelling of a loopback, private, link-local, CGNAT, multicast, unspecified or metadata address is refused even when allowlisted", arguments: [
        "127.0.0.1:80", "2130706433:80", "0177.0.0.1:80", "0x7f.0.0.1:80", "0x7f000001:80", "127.1:80", "017700000001:80",
        "[::1]:80", "[0:0:0:0:0:0:0:1]:80", "[::ffff:127.0.0.1]:80", "[::FFFF:7F00:1]:80", "[::127.0.0.1]:80",
        "169.254.169.254:80", "2852039166:80", "0251.0376.0251.0376:80", "0xa9.0xfe.0xa9.0xfe:80", "[fd00:ec2::254]:80",
        "[::ffff:169.254.169.254]:80", "[64:ff9b::169.254.169.254]:80", "10.0.0.1:80", "012.0.0.1:80", "167772161:80",
        "192.168.1.1:80", "172.16.0.1:80", "100.64.0.1:80", "0.0.0.0:80", "0:80", "224.0.0.1:80", "255.255.255.255:80",
        "[fe80::1]:80", "[fc00::1]:80", "[2002:7f00:1::]:80", "[ff02::1]:80", "[::]:80",
        "[2001:0:4136:e378:8000:63bf:3fff:fdd2]:80",
    ])
    func ssrf(authority: String) throws {
        let target = try #require(EgressTarget.parse(authority: authority), "\(authority) did not parse")
        guard case .address = target.host else {
            Issue.record("\(authority) was not recognised as an address literal")
            return
        }
        let decision = Self.everything.decide(target)
        guard case .denied(let reason, _) = decision else {
            Issue.record("\(authority) was allowed")
            return
        }
        #expect(["forbidden_address", "not_allowlisted"].contains(reason))
    }

    @Test("an address the policy names explicitly is allowed")
    func explicitAddress() throws {
        let rules = EgressRules(EgressPolicy(allow: ["10.0.0.5:5432"], allowAddresses: ["10.0.0.5"]))
        #expect(rules.decide(try #require(EgressTarget.parse(authority: "10.0.0.5:5432"))) == .allowed)
        #expect(rules.decide(try #require(EgressTarget.parse(authority: "012.0.0.5:5432"))) == .allowed)
        #expect(rules.check(.v4(0x0A00_0006)) != .allowed)
    }

    @Test("resolved addresses are checked like literals")
    func resolved() {
        let rules = EgressRules(EgressPolicy(allow: ["metadata.test"]))
        #expect(rules.check(IPAddress.parse("169.254.169.254")!) != .allowed)
        #expect(rules.check(IPAddress.parse("93.184.216.34")!) == .allowed)
        #expect(rules.check(IPAddress.parse("2606:2800:220:1::1")!) == .allowed)
    }

    @Test("bad patterns are refused with a reason", arguments: ["", "host:0", "host:99999", "*.com", "exa mple.com", "ex_ample.com", "::1:443", "[::1", "héllo.com", "-bad.com"])
    func badPattern(pattern: String) {
        guard case .failure = HostPattern.parse(pattern) else {
            Issue.record("\(pattern) was accepted")
            return
        }
    }

    @Test("malformed targets do not parse", arguments: ["", "host", "host:", "host:0", "host:70000", "[::1", "a..b:443", "exa mple:443", "under_score.com:443"])
    func badTargets(authority: String) {
        #expect(EgressTarget.parse(authority: authority) == nil)
    }
}
