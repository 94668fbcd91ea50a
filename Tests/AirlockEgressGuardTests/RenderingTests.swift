import AirlockEgressGuard
import Foundation
import Testing

@Suite("Ruleset rendering")
struct RenderingTests {
    /// The exact text `nft list table` prints back; `check` relies on the two being identical.
    static let golden = """
        table inet airlock_egress {
        \tchain output {
        \t\ttype filter hook output priority filter; policy accept;
        \t\tmeta skuid 1000 jump agent
        \t}

        \tchain agent {
        \t\tip daddr 127.0.0.1 tcp dport 8443 accept
        \t\tip daddr 127.0.0.1 tcp dport 3128 accept
        \t\tmeta l4proto tcp reject with tcp reset
        \t\treject with icmpx admin-prohibited
        \t}
        }

        """

    @Test func goldenText() throws {
        let ruleset = try EgressRuleset(uid: 1000, allow: ["127.0.0.1:8443", "127.0.0.1:3128"])
        #expect(ruleset.render() == Self.golden)
    }

    @Test func ipv6AndCustomTableAndDuplicates() throws {
        let ruleset = try EgressRuleset(
            uid: 4242, allow: ["[::1]:8443", "127.0.0.2:80", "[0:0:0:0:0:0:0:1]:8443"], tableName: "guard2")
        let text = ruleset.render()
        #expect(text.hasPrefix("table inet guard2 {\n"))
        #expect(text.contains("\t\tmeta skuid 4242 jump agent\n"))
        #expect(text.contains("\t\tip6 daddr ::1 tcp dport 8443 accept\n\t\tip daddr 127.0.0.2 tcp dport 80 accept\n"))
        #expect(ruleset.allowed.count == 2, "the second spelling of [::1]:8443 is a duplicate")
    }

    /// The reject rules must come after every accept, or the allow list would be dead code.
    @Test func rejectsComeLast() throws {
        let lines = try EgressRuleset(uid: 1000, allow: ["127.0.0.1:1", "[::1]:2"]).render()
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let agent = Array(lines.drop { $0 != "chain agent {" }.dropFirst().prefix { $0 != "}" })
        #expect(agent.suffix(2) == ["meta l4proto tcp reject with tcp reset", "reject with icmpx admin-prohibited"])
        #expect(agent.dropLast(2).allSatisfy { $0.hasSuffix(" accept") })
    }

    @Test func applyScriptIsOneReplaceTransaction() throws {
        let ruleset = try EgressRuleset(uid: 1000, allow: ["127.0.0.1:8443"])
        let script = ruleset.applyScript()
        #expect(
            script.hasPrefix(
                "table inet airlock_egress\ndelete table inet airlock_egress\ntable inet airlock_egress {\n"))
        #expect(try EgressRuleset.removeScript(tableName: "t") == "table inet t\ndelete table inet t\n")
    }

    @Test(arguments: [
        (UInt32(0), "refusing to confine root"),
        (UInt32.max, "(uid_t)-1"),
    ])
    func refusesBadUIDs(uid: UInt32, reason: String) {
        #expect {
            try EgressRuleset(uid: uid, allow: ["127.0.0.1:8443"])
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test func refusesEmptyAllowList() {
        #expect(throws: EgressGuardError.emptyAllowList) { try EgressRuleset(uid: 1000, allow: []) }
    }

    /// The name is pasted into nft's input, so anything that could smuggle syntax is refused.
    @Test(arguments: ["", "1abc", "a b", "a;flush ruleset", "a{", "x-y", String(repeating: "a", count: 65), "ä"])
    func refusesBadTableNames(name: String) {
        #expect(throws: EgressGuardError.invalidTableName(name)) {
            try EgressRuleset(uid: 1000, allow: ["127.0.0.1:8443"], tableName: name)
        }
        #expect(throws: EgressGuardError.invalidTableName(name)) { try EgressRuleset.removeScript(tableName: name) }
    }
}
