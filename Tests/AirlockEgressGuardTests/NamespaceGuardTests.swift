import AirlockEgressGuard
import Foundation
import Testing

/// The guard for real: nft rules in a network namespace of the test's own, exercised by UID 1000 and UID 1001.
@Suite("egress-guard in a network namespace", .timeLimit(.minutes(2)))
struct NamespaceGuardTests {
    static let agent: UInt32 = 1000
    static let router: UInt32 = 1001
    static let flags = ["--uid", "1000", "--allow", "127.0.0.1:8443", "--allow", "127.0.0.1:3128"]

    /// A refusal must be an immediate error, never a hang until some timeout (the probe's own limit is 3 s, after which
    /// it reports `timeout`): measured by the probe around its socket calls.
    static let fast: Duration = .seconds(2)

    /// What UID 1000 may and may not do under the guard: `ok`, or the exact errno the probe reports.
    static let agentExpectations: [(probe: [String], expected: String)] = [
        (["tcp", "127.0.0.1", "8443"], "ok"),
        (["tcp", "127.0.0.1", "9999"], "error ECONNREFUSED errno=111"),  // another loopback service: reset
        (["tcp", "::1", "8443"], "error ECONNREFUSED errno=111"),  // same port over IPv6: not allowed
        (["udp", "127.0.0.1", "9999"], "error EPERM errno=1"),  // sendto fails at once
        (["dns", "127.0.0.53"], "error EPERM errno=1"),
        (["dns", "127.0.0.1"], "error EPERM errno=1"),
        (["dns", "::1"], "error EPERM errno=1"),
    ]

    @Test func confinesOnlyTheAgentUID() async throws {
        try await GuardNamespace.withNamespace { ns in
            // --dry-run prints and touches nothing.
            let dry = try await ns.egressGuard(["apply"] + Self.flags + ["--dry-run"])
            #expect(dry.status == 0)
            #expect(dry.stdout == (try EgressRuleset(uid: 1000, allow: ["127.0.0.1:8443", "127.0.0.1:3128"]).render()))
            #expect(try await ns.tables().isEmpty, "--dry-run must not create the table")

            // Before the guard the agent can reach the other loopback service (proves the probe works).
            #expect(try await ns.probe(as: Self.agent, ["tcp", "127.0.0.1", "9999"]).output == "ok")

            let applied = try await ns.egressGuard(["apply"] + Self.flags)
            try #require(applied.status == 0, "apply failed: \(applied.stderr)")

            for (probe, expected) in Self.agentExpectations {
                let (output, elapsed) = try await ns.probe(as: Self.agent, probe)
                #expect(output == expected, "uid 1000 \(probe.joined(separator: " "))")
                #expect(elapsed.map { $0 < Self.fast } == true, "uid 1000 \(probe.joined(separator: " ")) took \(String(describing: elapsed))")
            }
            // Every other UID is untouched: the same probes all succeed.
            for (probe, _) in Self.agentExpectations {
                let (output, _) = try await ns.probe(as: Self.router, probe)
                #expect(output == "ok", "uid 1001 \(probe.joined(separator: " "))")
            }

            let check = try await ns.egressGuard(["check"] + Self.flags)
            #expect(check.status == 0, "check after apply: \(check.stdout)\(check.stderr)")
        }
    }

    @Test func checkDetectsDriftAndApplyIsIdempotentAndRemoveCleansUp() async throws {
        try await GuardNamespace.withNamespace { ns in
            let absent = try await ns.egressGuard(["check"] + Self.flags)
            #expect(
                absent.status == 1 && absent.stderr.contains("is not present"), "check with no table: \(absent.stderr)")

            try #require(try await ns.egressGuard(["apply"] + Self.flags).status == 0)
            let first = try await ns.listTable()

            // Someone deletes the router's rule: check must notice, name the rule, and exit 1.
            try await ns.deleteRule(containing: "tcp dport 8443 accept")
            let drifted = try await ns.egressGuard(["check"] + Self.flags)
            #expect(drifted.status == 1)
            #expect(
                drifted.stderr.contains("- ip daddr 127.0.0.1 tcp dport 8443 accept"), "drift report: \(drifted.stderr)"
            )
            // Losing an accept fails closed: the agent is now refused even the router.
            #expect(
                try await ns.probe(as: Self.agent, ["tcp", "127.0.0.1", "8443"]).output
                    == "error ECONNREFUSED errno=111")

            // apply twice more: exactly one table, the same rules as the first time, check clean again.
            for _ in 0..<2 { try #require(try await ns.egressGuard(["apply"] + Self.flags).status == 0) }
            #expect(try await ns.tables() == ["table inet airlock_egress"])
            #expect(try await ns.listTable() == first)
            #expect(try await ns.egressGuard(["check"] + Self.flags).status == 0)
            #expect(try await ns.probe(as: Self.agent, ["tcp", "127.0.0.1", "8443"]).output == "ok")

            // A check with different flags than were applied is drift too.
            let other = try await ns.egressGuard(["check", "--uid", "1000", "--allow", "127.0.0.1:8443"])
            #expect(other.status == 1 && other.stderr.contains("+ ip daddr 127.0.0.1 tcp dport 3128 accept"))

            let removed = try await ns.egressGuard(["remove"])
            #expect(removed.status == 0, "remove: \(removed.stderr)")
            #expect(try await ns.tables().isEmpty)
            #expect(try await ns.probe(as: Self.agent, ["tcp", "127.0.0.1", "9999"]).output == "ok")
            #expect(try await ns.egressGuard(["remove"]).status == 0, "remove of an absent table succeeds")
        }
    }

    /// Allowing [::1]:8443 opens exactly that: IPv4 8443 stays closed, and a custom table name works.
    @Test func ipv6AllowAndCustomTable() async throws {
        try await GuardNamespace.withNamespace { ns in
            let flags = ["--uid", "1000", "--allow", "[::1]:8443", "--table", "guard_v6"]
            try #require(try await ns.egressGuard(["apply"] + flags).status == 0)
            #expect(try await ns.tables() == ["table inet guard_v6"])
            #expect(try await ns.probe(as: Self.agent, ["tcp", "::1", "8443"]).output == "ok")
            #expect(
                try await ns.probe(as: Self.agent, ["tcp", "127.0.0.1", "8443"]).output
                    == "error ECONNREFUSED errno=111")
            #expect(try await ns.egressGuard(["check"] + flags).status == 0)
            #expect(try await ns.egressGuard(["remove", "--table", "guard_v6"]).status == 0)
            #expect(try await ns.tables().isEmpty)
        }
    }

    /// Bad input never reaches nft: the command exits 64 with the reason.
    @Test func badAllowIsRefusedBeforeTouchingNft() async throws {
        try await GuardNamespace.withNamespace { ns in
            let result = try await ns.egressGuard(["apply", "--uid", "1000", "--allow", "10.0.0.1:443"])
            #expect(result.status == 64)
            #expect(result.stderr.contains("10.0.0.1 is not a loopback address"))
            #expect(try await ns.tables().isEmpty)
        }
    }
}
