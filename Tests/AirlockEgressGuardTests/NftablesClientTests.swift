import AirlockEgressGuard
import Foundation
import Testing

/// Records what `Nftables` asks to run and answers from a script, so the nft plumbing is testable without root.
final class FakeRunner: CommandRunning, @unchecked Sendable {
    private let lock = NSLock()
    private var answers: [CommandResult]
    private(set) var calls: [(arguments: [String], input: String?)] = []

    init(_ answers: [CommandResult]) { self.answers = answers }

    func run(_ executable: String, _ arguments: [String], input: String?, timeout: Duration) async throws
        -> CommandResult
    {
        lock.withLock {
            calls.append((arguments, input))
            return answers.removeFirst()
        }
    }
}

@Suite("nft plumbing")
struct NftablesClientTests {
    let ruleset = try! EgressRuleset(uid: 1000, allow: ["127.0.0.1:8443", "127.0.0.1:3128"])

    @Test func applyFeedsTheReplaceScriptOnStdin() async throws {
        let fake = FakeRunner([CommandResult(status: 0, stdout: "", stderr: "")])
        try await Nftables(executable: "/usr/sbin/nft", runner: fake).apply(ruleset)
        #expect(fake.calls.count == 1)
        #expect(fake.calls[0].arguments == ["-f", "-"])
        #expect(fake.calls[0].input == ruleset.applyScript())
    }

    @Test func nftFailureCarriesItsMessage() async {
        let fake = FakeRunner([
            CommandResult(status: 1, stdout: "", stderr: "Error: Could not process rule: Operation not permitted\n")
        ])
        await #expect {
            try await Nftables(executable: "/usr/sbin/nft", runner: fake).apply(ruleset)
        } throws: { error in
            "\(error)" == "nft -f - exited with status 1: Error: Could not process rule: Operation not permitted"
        }
    }

    @Test func checkReportsAbsentMatchingAndDrifted() async throws {
        let fake = FakeRunner([
            CommandResult(
                status: 1, stdout: "", stderr: "Error: No such file or directory\nlist table inet airlock_egress\n"),
            CommandResult(status: 0, stdout: ruleset.render(), stderr: ""),
            CommandResult(
                status: 0, stdout: ruleset.render().replacingOccurrences(of: "3128", with: "3129"), stderr: ""),
        ])
        let nft = Nftables(executable: "/usr/sbin/nft", runner: fake)
        #expect(try await nft.check(ruleset).tableMissing)
        #expect(try await nft.check(ruleset).isEmpty)
        #expect(try await nft.check(ruleset).lines.count == 2)
        #expect(fake.calls[0].arguments == ["list", "table", "inet", "airlock_egress"])
    }

    /// A failure other than "no such table" (e.g. no CAP_NET_ADMIN) must not be mistaken for an absent table.
    @Test func listErrorsAreNotAbsence() async {
        let fake = FakeRunner([CommandResult(status: 1, stdout: "", stderr: "Error: Operation not permitted\n")])
        await #expect(throws: EgressGuardError.self) {
            _ = try await Nftables(executable: "/usr/sbin/nft", runner: fake).listTable("airlock_egress")
        }
    }

    @Test func missingNftNamesTheDebianPackage() throws {
        #expect {
            try Nftables.locate(path: "/nowhere", isExecutable: { _ in false })
        } throws: { error in
            let text = "\(error)"
            return text.contains("nft not found") && text.contains("/nowhere/nft")
                && text.contains("apt-get install -y nftables")
        }
        #expect(try Nftables.locate(path: "/a:/b", isExecutable: { $0 == "/b/nft" }) == "/b/nft")
        #expect(try Nftables.locate(path: nil, isExecutable: { $0 == "/sbin/nft" }) == "/sbin/nft")
    }

    @Test func runnerEnforcesItsDeadline() async {
        let start = ContinuousClock.now
        await #expect(throws: EgressGuardError.self) {
            _ = try await ProcessRunner().run("/bin/sleep", ["30"], input: nil, timeout: .milliseconds(300))
        }
        // Far below the command's 30 s, so the deadline ended it; generous above 300 ms for a loaded machine.
        #expect(ContinuousClock.now - start < .seconds(20))
    }

    @Test("the runner keeps every byte of a child that writes a lot and exits at once, on both streams")
    func runnerKeepsLargeOutput() async throws {
        let result = try await ProcessRunner().run(
            "/bin/sh", ["-c", "head -c 3000000 /dev/zero | tr '\\0' a; head -c 200000 /dev/zero | tr '\\0' b >&2"],
            input: nil, timeout: .seconds(20))
        #expect(result.status == 0)
        #expect(result.stdout.utf8.count == 3_000_000 && result.stdout.utf8.allSatisfy { $0 == UInt8(ascii: "a") })
        #expect(result.stderr.utf8.count == 200_000)
    }

    @Test("a child that exits without reading a large input is no harm to the runner (no SIGPIPE), and its status is kept")
    func runnerSurvivesAnUnreadInput() async throws {
        let result = try await ProcessRunner().run(
            "/bin/sh", ["-c", "exit 4"], input: String(repeating: "x", count: 4 << 20), timeout: .seconds(20))
        #expect(result.status == 4)
    }

    @Test("a grandchild that keeps the output open does not hold the runner past the child's exit for long")
    func runnerDoesNotWaitForAGrandchild() async throws {
        let start = ContinuousClock.now
        let result = try await ProcessRunner().run(
            "/bin/sh", ["-c", "sleep 30 & echo started"], input: nil, timeout: .seconds(25))
        #expect(result.status == 0 && result.stdout == "started\n")
        #expect(ContinuousClock.now - start < .seconds(15))
    }

    @Test func runnerPassesStdinAndCollectsOutput() async throws {
        let result = try await ProcessRunner().run(
            "/bin/sh", ["-c", "cat; echo oops >&2; exit 3"], input: "hello", timeout: .seconds(10))
        #expect(result == CommandResult(status: 3, stdout: "hello", stderr: "oops\n"))
    }
}
