import AirlockSandbox
import CAirlockSandbox
import Foundation
import Glibc
import Testing

@Suite(.enabled(if: TestSupport.isRoot, TestSupport.rootReason))
struct LaunchTests {
    func launcher(_ configure: (inout SandboxLauncher.Options) -> Void = { _ in }) throws -> (SandboxLauncher, String) {
        let workdir = try TestSupport.makeDirectory()
        var options = SandboxLauncher.Options()
        configure(&options)
        return (try SandboxLauncher(policy: TestSupport.policy(workdir: workdir), options: options), workdir)
    }

    @Test func exitStatusIsPropagated() async throws {
        let (launcher, workdir) = try launcher()
        defer { try? FileManager.default.removeItem(atPath: workdir) }
        let running = try launcher.start(["/bin/sh", "-c", "exit 7"], sandbox: "t")
        let exit = await TestSupport.wait(running)
        #expect(exit == .exited(7))
        #expect(exit.shellStatus == 7)
    }

    @Test func deathBySignalIsPropagated() async throws {
        let (launcher, workdir) = try launcher()
        defer { try? FileManager.default.removeItem(atPath: workdir) }
        let running = try launcher.start(["/bin/sh", "-c", "kill -KILL $$"], sandbox: "t")
        let exit = await TestSupport.wait(running)
        #expect(exit == .signaled(SIGKILL))
        #expect(exit.shellStatus == 137)
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func forwardedSignalReachesTheWorker(signal: Int32) async throws {
        let (launcher, workdir) = try launcher()
        defer { try? FileManager.default.removeItem(atPath: workdir) }
        let running = try launcher.start(["/bin/sleep", "30"], sandbox: "t")
        try await Task.sleep(for: .milliseconds(100))
        running.signal(signal)
        #expect(await TestSupport.wait(running) == .signaled(signal))
    }

    @Test func theSandboxHoldsNoDescriptorOfTheParent() async throws {
        let (launcher, workdir) = try launcher()
        defer { try? FileManager.default.removeItem(atPath: workdir) }
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)  // without O_CLOEXEC: the supervisor is forked with both ends open
        let running = try launcher.start(["/bin/sleep", "30"], sandbox: "t")
        close(ends[1])
        // No copy of the write end may survive in the supervisor or the worker: the read end sees end-of-file
        // while the sandbox still runs, not when it ends.
        var poller = pollfd(fd: ends[0], events: Int16(POLLIN), revents: 0)
        #expect(poll(&poller, 1, 5000) == 1)
        var byte: UInt8 = 0
        #expect(read(ends[0], &byte, 1) == 0)
        close(ends[0])
        running.signal(SIGTERM)
        #expect(await TestSupport.wait(running) == .signaled(SIGTERM))
    }

    @Test func failingStageBecomesOneClearMessage() async throws {
        let (launcher, workdir) = try launcher { $0.injectedFailure = (AIRLOCK_STAGE_LANDLOCK_RESTRICT_SELF, EPERM) }
        defer { try? FileManager.default.removeItem(atPath: workdir) }
        do {
            _ = try launcher.start(["/bin/true"], sandbox: "t")
            Issue.record("the launch should have failed")
        } catch let error as SandboxLaunchError {
            #expect(error.code == .childSetupFailed)
            #expect(error.stage == "landlock_restrict_self")
            #expect(error.message.hasPrefix("landlock_restrict_self failed: EPERM — "), "\(error.message)")
        }
    }

    @Test func missingProgramFailsAtExecve() async throws {
        let (launcher, workdir) = try launcher()
        defer { try? FileManager.default.removeItem(atPath: workdir) }
        do {
            _ = try launcher.start(["/nonexistent/agent"], sandbox: "t")
            Issue.record("the launch should have failed")
        } catch let error as SandboxLaunchError {
            #expect(error.message.hasPrefix("execve failed: ENOENT — "), "\(error.message)")
        }
    }

    @Test func unreachableRouterStopsBeforeTheWorkerStarts() async throws {
        let (launcher, workdir) = try launcher()
        defer { try? FileManager.default.removeItem(atPath: workdir) }
        do {
            _ = try launcher.start(["/bin/sh", "-c", "touch started"], sandbox: "t", registrar: FailingRegistrar())
            Issue.record("the launch should have failed")
        } catch let error as SandboxLaunchError {
            #expect(error.code == .routerUnreachable)
            #expect(error.message.hasPrefix("router not reachable"))
        }
        #expect(!FileManager.default.fileExists(atPath: "\(workdir)/started"))
    }

    /// The policy check accepts a directory of one's own inside /tmp, and a /run path named in allowSocketPaths; the
    /// worker must then see them, read-only, on top of its private /tmp and empty /run rather than under them.
    @Test("read-only paths inside /tmp and /run are shown, read-only, over the private /tmp and the empty /run")
    func readonlyPathsUnderTmpAndRunAreShown() async throws {
        let shared = try TestSupport.makeDirectory(under: "/tmp")
        let service = try TestSupport.makeDirectory(under: "/run")
        defer {
            try? FileManager.default.removeItem(atPath: shared)
            try? FileManager.default.removeItem(atPath: service)
        }
        try "from tmp\n".write(toFile: "\(shared)/note", atomically: false, encoding: .utf8)
        try "from run\n".write(toFile: "\(service)/note", atomically: false, encoding: .utf8)
        let workdir = try TestSupport.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: workdir) }
        var policy = TestSupport.policy(workdir: workdir)
        policy.readonlyPaths = [shared, service]
        policy.allowSocketPaths = [service]
        let launcher = try SandboxLauncher(policy: policy)
        let script = """
            cat \(shared)/note \(service)/note > seen 2>&1
            (echo x > \(shared)/new) 2>/dev/null && echo tmp_writable >> seen || echo tmp_readonly >> seen
            (echo x > \(service)/new) 2>/dev/null && echo run_writable >> seen || echo run_readonly >> seen
            (echo x > /tmp/scratch && echo tmp_private_ok >> seen) 2>/dev/null
            ls /tmp | grep -c airlock-test > others
            """
        let running = try launcher.start(["/bin/sh", "-c", script], sandbox: "t")
        #expect(await TestSupport.wait(running) == .exited(0))
        let seen = try String(contentsOfFile: "\(workdir)/seen", encoding: .utf8)
        #expect(seen == "from tmp\nfrom run\ntmp_readonly\nrun_readonly\ntmp_private_ok\n", "\(seen)")
        #expect(!FileManager.default.fileExists(atPath: "\(shared)/new") && !FileManager.default.fileExists(atPath: "/tmp/scratch"))
        // The private /tmp shows the named directory (and the workdir, here under /tmp too), nothing else of the host's.
        #expect(try String(contentsOfFile: "\(workdir)/others", encoding: .utf8) == "2\n")
    }

    @Test func workerSeesOnlyItsOwnNetworkAndIdentity() async throws {
        let (launcher, workdir) = try launcher()
        defer { try? FileManager.default.removeItem(atPath: workdir) }
        let script = "cat /proc/self/status > status; ls /sys/class/net > net; id -u > uid"
        let running = try launcher.start(["/bin/sh", "-c", script], sandbox: "t")
        #expect(await TestSupport.wait(running) == .exited(0))
        let status = try String(contentsOfFile: "\(workdir)/status", encoding: .utf8)
        for field in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            #expect(status.contains("\(field):\t0000000000000000"), "\(field) not empty")
        }
        #expect(status.contains("NoNewPrivs:\t1"))
        #expect(status.contains("Seccomp:\t2"))
        #expect(try String(contentsOfFile: "\(workdir)/uid", encoding: .utf8) == "\(TestSupport.workerUID)\n")
    }
}
