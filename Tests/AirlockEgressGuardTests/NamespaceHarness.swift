import AirlockEgressGuard
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A throwaway network namespace with `lo` up, a probe server inside it, and helpers to run commands in it.
///
/// Everything runs through `ProcessRunner` with a deadline, and `withNamespace` deletes the namespace whether the
/// body passes, fails or throws.
struct GuardNamespace {
    let name: String
    let ip: String
    let nft: String
    let guardBinary: String
    /// A copy of airlock-netprobe in a world-readable directory, so UID 1000 can execute it whatever the
    /// permissions of the build folder are.
    let probe: String
    let scratch: URL
    let runner = ProcessRunner()

    /// Reasons the real test cannot run here; the test is skipped (cancelled) with this message.
    static func environmentProblem() -> String? {
        guard geteuid() == 0 else { return "needs root (ip netns, nft, setpriv); CI runs as root" }
        if locate("ip") == nil { return "the ip command is missing: apt-get install -y iproute2" }
        if (try? Nftables.locate()) == nil { return "the nft command is missing: apt-get install -y nftables" }
        if locate("setpriv") == nil { return "setpriv is missing: apt-get install -y util-linux" }
        return nil
    }

    static func locate(_ tool: String) -> String? {
        ["/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"].map { $0 + tool }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The built `airlock` (or dev `airlock-dev`) binary and the probe, found next to the test bundle.
    static func builtBinaries() -> (guardBinary: String, probe: String)? {
        let directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let env = ProcessInfo.processInfo.environment["AIRLOCK_BIN"]
        let guardCandidates =
            [env].compactMap { $0 } + ["airlock", "airlock-dev"].map { directory.appendingPathComponent($0).path }
        guard let guardBinary = guardCandidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else {
            return nil
        }
        let probe = directory.appendingPathComponent("airlock-netprobe").path
        guard FileManager.default.isExecutableFile(atPath: probe) else { return nil }
        return (guardBinary, probe)
    }

    /// Creates the namespace, runs `body`, and always removes the namespace and the scratch folder.
    static func withNamespace(_ body: (GuardNamespace) async throws -> Void) async throws {
        if let problem = environmentProblem() { try Test.cancel("skipped: \(problem)") }
        guard let binaries = builtBinaries() else {
            Issue.record(
                "airlock/airlock-dev or airlock-netprobe is not built next to the test bundle; run swift build first")
            return
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(
            "airlock-guard-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: scratch.path)
        let probe = scratch.appendingPathComponent("airlock-netprobe").path
        try FileManager.default.copyItem(atPath: binaries.probe, toPath: probe)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: probe)

        let name = "airlock-guard-test-\(UInt32.random(in: 0...UInt32.max))"
        let ns = GuardNamespace(
            name: name, ip: locate("ip")!, nft: try Nftables.locate(), guardBinary: binaries.guardBinary,
            probe: probe, scratch: scratch)
        let created = try await ns.runner.run(ns.ip, ["netns", "add", name], input: nil, timeout: .seconds(10))
        guard created.status == 0 else {
            try? FileManager.default.removeItem(at: scratch)
            // No CAP_SYS_ADMIN or no /run/netns in this container: an environment limit, not a product bug.
            try Test.cancel("skipped: cannot create a network namespace: \(created.stderr)")
        }
        var server: Process?
        do {
            try await ns.mustSucceed(ns.ip, ["-n", name, "link", "set", "lo", "up"])
            server = try await ns.startServer()
            try await body(ns)
        } catch {
            await ns.destroy(server)
            throw error
        }
        await ns.destroy(server)
    }

    func destroy(_ server: Process?) async {
        if let server, server.isRunning { server.terminate() }
        _ = try? await runner.run(ip, ["netns", "delete", name], input: nil, timeout: .seconds(10))
        try? FileManager.default.removeItem(at: scratch)
    }

    /// TCP listeners on 127.0.0.1:8443 (the router), 127.0.0.1:9999 (another loopback service), [::1]:8443, and
    /// a UDP socket on 127.0.0.1:9999. It exits by itself after 90 s even if the test process dies.
    func startServer() async throws -> Process {
        let ready = scratch.appendingPathComponent("ready")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ip)
        process.arguments = [
            "netns", "exec", name, probe, "serve", "90", ready.path,
            "tcp:127.0.0.1:8443", "tcp:127.0.0.1:9999", "tcp:[::1]:8443", "udp:127.0.0.1:9999",
        ]
        try process.run()
        let deadline = ContinuousClock.now + .seconds(10)
        while !FileManager.default.fileExists(atPath: ready.path) {
            guard ContinuousClock.now < deadline, process.isRunning else {
                process.terminate()
                throw ProbeFailure("probe server did not become ready in the namespace")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return process
    }

    /// Runs a command inside the namespace.
    func exec(_ arguments: [String], timeout: Duration = .seconds(15)) async throws -> CommandResult {
        try await runner.run(ip, ["netns", "exec", name] + arguments, input: nil, timeout: timeout)
    }

    /// Runs `airlock egress-guard ARGS` inside the namespace.
    func egressGuard(_ arguments: [String]) async throws -> CommandResult {
        try await exec([guardBinary, "egress-guard"] + arguments)
    }

    /// Runs the probe inside the namespace as `uid` with no supplementary groups, and times it.
    /// The probe's answer, and how long its socket calls took as it measured them (nil if it did not say): the time
    /// to start it under `ip netns exec` and `setpriv` on a loaded machine is not the guard's doing.
    func probe(as uid: UInt32, _ arguments: [String]) async throws -> (output: String, elapsed: Duration?) {
        let result = try await exec(
            ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", probe] + arguments,
            timeout: .seconds(10))
        let output = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let elapsed = result.stderr.split(separator: "\n").first { $0.hasPrefix("elapsed_ms=") }
            .flatMap { Int($0.dropFirst("elapsed_ms=".count)) }.map { Duration.milliseconds($0) }
        return (output.isEmpty ? "no output, status \(result.status): \(result.stderr)" : output, elapsed)
    }

    func mustSucceed(_ executable: String, _ arguments: [String]) async throws {
        let result = try await runner.run(executable, arguments, input: nil, timeout: .seconds(15))
        guard result.status == 0 else {
            throw ProbeFailure("\(executable) \(arguments.joined(separator: " ")) failed: \(result.stderr)")
        }
    }

    /// `nft list tables` inside the namespace.
    func tables() async throws -> [String] {
        let result = try await exec([nft, "list", "tables"])
        return result.stdout.split(separator: "\n").map(String.init)
    }

    /// `nft list table inet NAME` inside the namespace.
    func listTable(_ table: String = EgressRuleset.defaultTableName) async throws -> String {
        try await exec([nft, "list", "table", "inet", table]).stdout
    }

    /// Deletes the rule containing `fragment` from the agent chain, as an intruder or a sloppy admin would.
    func deleteRule(containing fragment: String) async throws {
        let listing = try await exec([nft, "-a", "list", "chain", "inet", EgressRuleset.defaultTableName, "agent"])
            .stdout
        guard let line = listing.split(separator: "\n").first(where: { $0.contains(fragment) }),
            let handle = line.split(separator: " ").last
        else { throw ProbeFailure("no rule containing \(fragment) in \(listing)") }
        let result = try await exec([
            nft, "delete", "rule", "inet", EgressRuleset.defaultTableName, "agent", "handle", String(handle),
        ])
        guard result.status == 0 else { throw ProbeFailure("nft delete rule failed: \(result.stderr)") }
    }
}

struct ProbeFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
