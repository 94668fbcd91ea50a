import AirlockFront
import Testing

struct RunArgumentsTests {
    @Test func everyOptionIsRead() throws {
        let parsed = try RunArguments.parse([
            "--policy", "/etc/airlock/sandbox/a.json", "--sandbox=build", "--uid", "1000", "--gid=1001", "--workdir", "/w",
            "--control", "/run/x.sock", "--no-router", "--seccomp-cache", "/c", "--", "/bin/sh", "-c", "exit 3",
        ])
        var expected = RunArguments()
        expected.policy = "/etc/airlock/sandbox/a.json"
        expected.sandbox = "build"
        expected.uid = 1000
        expected.gid = 1001
        expected.workdir = "/w"
        expected.control = "/run/x.sock"
        expected.noRouter = true
        expected.seccompCache = "/c"
        expected.command = ["/bin/sh", "-c", "exit 3"]
        #expect(parsed == expected)
    }

    @Test func defaultsMatchTheDocumentedOnes() throws {
        let parsed = try RunArguments.parse(["--", "/bin/true"])
        #expect(parsed.sandbox == "default")
        #expect(parsed.control == "/run/airlock/control.sock")
        #expect(parsed.policy == nil && parsed.uid == nil && parsed.gid == nil && parsed.workdir == nil)
        #expect(!parsed.noRouter && !parsed.noSeccompCache && parsed.seccompCache == nil)
        #expect(parsed.command == ["/bin/true"])
    }

    @Test func everythingAfterTheTerminatorIsTheCommand() throws {
        let parsed = try RunArguments.parse(["--no-router", "--", "env", "--policy", "--", "-h"])
        #expect(parsed.command == ["env", "--policy", "--", "-h"])
        #expect(parsed.policy == nil && !parsed.help)
    }

    @Test func helpNeedsNoCommand() throws {
        #expect(try RunArguments.parse(["--help"]).help)
        #expect(try RunArguments.parse(["-h"]).help)
        #expect(RunArguments.usage.contains("--seccomp-cache"))
    }

    static let bad: [(arguments: [String], message: String)] = [
        (["--policy"], "missing value for '--policy <policy>'"),
        (["--uid", "root", "--", "x"], "the value 'root' is invalid for '--uid <uid>'"),
        (["--gid=-1", "--", "x"], "the value '-1' is invalid for '--gid <gid>'"),
        (["--frobnicate", "--", "x"], "unknown option '--frobnicate'"),
        (["/bin/true"], "unexpected argument '/bin/true'; put the command after '--'"),
        (["--policy", "a", "--policy", "b", "--", "x"], "'--policy' is given more than once"),
        (["--no-router=yes", "--", "x"], "'--no-router' takes no value"),
        (["--seccomp-cache", "/c", "--no-seccomp-cache", "--", "x"], "exclude each other"),
    ]

    @Test(arguments: bad)
    func badCommandLinesAreUsageErrors(arguments: [String], message: String) {
        do {
            _ = try RunArguments.parse(arguments)
            Issue.record("accepted \(arguments)")
        } catch {
            #expect(error.description.contains(message), "\(error)")
        }
    }
}
