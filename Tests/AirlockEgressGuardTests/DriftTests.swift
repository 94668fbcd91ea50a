import AirlockEgressGuard
import Foundation
import Testing

@Suite("Drift detection")
struct DriftTests {
    let expected = RenderingTests.golden

    /// `nft -a list table` output: handles and different indentation must not count as drift.
    @Test func identicalUpToHandlesAndWhitespace() {
        let live =
            expected
            .replacingOccurrences(of: "jump agent", with: "jump agent # handle 3")
            .replacingOccurrences(of: "\t", with: "    ")
        #expect(RulesetDrift.compare(expected: expected, live: live).isEmpty)
    }

    @Test func missingRule() {
        let live = expected.replacingOccurrences(of: "\t\tip daddr 127.0.0.1 tcp dport 8443 accept\n", with: "")
        let drift = RulesetDrift.compare(expected: expected, live: live)
        #expect(drift.lines == [.missing("ip daddr 127.0.0.1 tcp dport 8443 accept")])
        #expect(drift.report(tableName: "airlock_egress").contains("\n- ip daddr 127.0.0.1 tcp dport 8443 accept"))
    }

    @Test func extraRuleOpeningLoopback() {
        let live = expected.replacingOccurrences(
            of: "\t\tmeta l4proto tcp reject", with: "\t\tip daddr 127.0.0.0/8 accept\n\t\tmeta l4proto tcp reject")
        let drift = RulesetDrift.compare(expected: expected, live: live)
        #expect(drift.lines == [.unexpected("ip daddr 127.0.0.0/8 accept")])
        #expect(drift.report(tableName: "airlock_egress").contains("\n+ ip daddr 127.0.0.0/8 accept"))
    }

    @Test func changedPolicyAndUID() {
        let live = expected.replacingOccurrences(of: "skuid 1000", with: "skuid 1001")
        let drift = RulesetDrift.compare(expected: expected, live: live)
        #expect(
            Set(drift.lines) == [.missing("meta skuid 1000 jump agent"), .unexpected("meta skuid 1001 jump agent")])
    }

    /// Moving an accept below the rejects changes verdicts, so order is part of the comparison.
    @Test func reorderedRulesAreDrift() {
        let live = expected.replacingOccurrences(
            of: "\t\tip daddr 127.0.0.1 tcp dport 3128 accept\n\t\tmeta l4proto tcp reject with tcp reset\n",
            with: "\t\tmeta l4proto tcp reject with tcp reset\n\t\tip daddr 127.0.0.1 tcp dport 3128 accept\n")
        #expect(!RulesetDrift.compare(expected: expected, live: live).isEmpty)
    }

    @Test func absentTable() {
        let drift = RulesetDrift.compare(expected: expected, live: nil)
        #expect(drift.tableMissing && !drift.isEmpty)
        #expect(drift.report(tableName: "airlock_egress") == "table inet airlock_egress is not present")
    }
}
