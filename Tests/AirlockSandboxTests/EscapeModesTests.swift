import AirlockSandbox
import AirlockTestSupport
import Foundation
import Glibc
import Testing

/// The escape suite in the modes a launcher that is not root gets: user namespace, and unprivileged (no
/// namespaces at all, as on a host that forbids user namespaces). Run as root so the test can make the host's
/// sockets and files, then start `airlock run` as an ordinary user with setpriv.
@Suite(.serialized)
struct EscapeModesTests {
    static let canRun = TestSupport.isRoot && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
    /// The person at the keyboard: the launcher's own UID, which the worker must not act as on the host.
    static let launcherUID: UInt32 = 1000

    @Test("user-namespace and unprivileged modes refuse every escape their isolation covers",
          .enabled(if: canRun, "needs root to make host sockets and to start the launcher as another user with setpriv"),
          arguments: ["user-namespace", "unprivileged"])
    func escapes(mode: String) async throws {
        let scratch = try TestSupport.makeDirectory(under: "/var/tmp", owner: 0)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        chmod(scratch, 0o755)
        let workdir = try TestSupport.makeDirectory(under: scratch, owner: Self.launcherUID)
        let escape = "\(scratch)/airlock-escape"
        try FileManager.default.copyItem(atPath: "\(TestSupport.productsDirectory)/airlock-escape", toPath: escape)
        chmod(escape, 0o755)
        let policy = "\(scratch)/policy.json"
        try """
            {"readonlyPaths": ["\(scratch)"], "seccompProfile": "\(TestSupport.agentStrictProfile)",
             "limits": {"processes": 64}}
            """.write(toFile: policy, atomically: false, encoding: .utf8)

        let hostSockets = "/run/airlock-escape-\(mode)-\(getpid())"
        let abstractName = "airlock-escape-\(mode)-\(getpid())"
        let host = try HostSockets(directory: hostSockets, abstractName: abstractName, workerUID: Self.launcherUID)
        defer { host.close() }
        let home = try TestSupport.makeDirectory(under: "/var/tmp", owner: Self.launcherUID)
        defer { try? FileManager.default.removeItem(atPath: home) }
        chmod(home, 0o700)
        let workerFile = "\(home)/private"
        try "private".write(toFile: workerFile, atomically: false, encoding: .utf8)
        chown(workerFile, Self.launcherUID, Self.launcherUID)
        chmod(workerFile, 0o600)
        let before = try FileManager.default.contentsOfDirectory(atPath: "/tmp").filter { $0.hasPrefix("airlock-worker-") }

        // The suite runs for seconds: waited for on a thread of its own, not on one of the few threads that run
        // every test's tasks.
        let (status, output, errors) = try await offPool { () throws -> (Int32, String, String) in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = [
                "--reuid=\(Self.launcherUID)", "--regid=\(Self.launcherUID)", "--clear-groups",
                "\(TestSupport.productsDirectory)/airlock", "run", "--no-router", "--no-seccomp-cache", "--policy", policy,
                "--workdir", workdir,
            ] + (mode == "unprivileged" ? ["--isolation", "unprivileged"] : []) + [
                "--", escape, "--no-router", "--mode", mode, "--nproc", "64", "--host-socket-dir", hostSockets,
                "--abstract-name", abstractName, "--worker-file", workerFile,
            ]
            process.environment = ["PATH": "/usr/bin:/bin", "TMPDIR": "/tmp"]
            process.currentDirectoryURL = URL(fileURLWithPath: workdir)
            let stdout = Pipe(), stderr = Pipe()
            process.standardOutput = stdout
            process.standardError = stderr
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let output = String(decoding: readToEnd(stdout.fileHandleForReading), as: UTF8.self)
            let errors = String(decoding: readToEnd(stderr.fileHandleForReading), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, output, errors)
        }

        let lines = EscapeSuiteTests.parse(output)
        let escapes = lines.filter { $0.kind == "ESCAPE" }
        #expect(escapes.count >= 40, "only \(escapes.count) escapes ran:\n\(output)\n\(errors)")
        for line in escapes {
            #expect(line.ok, "\(mode): \(line.name): expected \(line.expected ?? "?") got \(line.got ?? "?")")
        }
        var controls = ["shell_pipeline", "python", "workdir_write_read", "tcp_socket_explicit_protocol"]
        controls += mode == "unprivileged" ? ["private_tmpdir_write"] : ["tmp_write"]
        for name in controls {
            #expect(lines.contains { $0.kind == "CONTROL" && $0.name == name && $0.ok }, "\(mode): control \(name) failed:\n\(output)")
        }
        let names = Set(escapes.map(\.name))
        let expected = mode == "unprivileged"
            ? ["host_abstract_unix_socket", "host_file_of_worker_uid", "listen_autobind_host_port", "write_host_tmp",
               "write_host_dev_shm", "mptcp4_socket", "sctp_stream_socket"]
            : ["host_unix_stream_socket", "host_unix_dgram_socket", "host_unix_seqpacket_socket",
               "host_unix_socket_of_worker_uid", "host_abstract_unix_socket", "inotify_host_dir",
               "host_file_of_worker_uid", "run_is_empty", "passwd_is_curated", "mptcp4_socket"]
        for name in expected { #expect(names.contains(name), "\(mode): escape \(name) did not run") }
        #expect(status == 0, "\(mode): airlock run exited \(status):\n\(output)\n\(errors)")
        #expect(output.contains("SUMMARY failures=0"))
        // Nothing appeared in the host's /tmp or /dev/shm, and the private TMPDIR is gone once the worker has exited.
        #expect(!FileManager.default.fileExists(atPath: "/tmp/airlock-escape-host-tmp"))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/airlock-escape-shadow-link"))
        #expect(!FileManager.default.fileExists(atPath: "/dev/shm/airlock-escape-host-shm"))
        let after = try FileManager.default.contentsOfDirectory(atPath: "/tmp").filter { $0.hasPrefix("airlock-worker-") }
        #expect(Set(after) == Set(before), "a private temporary directory was left behind")
    }
}
