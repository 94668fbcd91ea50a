import Foundation

/// Applies, inspects and removes the egress guard with the `nft` binary.
///
/// Shelling out to `nft` (rather than speaking netlink) keeps the rules in the same text an operator reads in
/// `nft list ruleset`, and `nft -f` gives us an atomic transaction for free.
public struct Nftables: Sendable {
    /// Where `nft` usually lives; searched after `$PATH`, since root's `$PATH` in a container often lacks sbin.
    public static let fallbackLocations = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", "/bin/nft"]

    /// Absolute path of the `nft` binary.
    public let executable: String
    /// How `nft` is run.
    public let runner: any CommandRunning
    /// Deadline for each `nft` invocation.
    public let timeout: Duration

    /// Uses the given `nft` path and runner.
    public init(executable: String, runner: any CommandRunning = ProcessRunner(), timeout: Duration = .seconds(15)) {
        self.executable = executable
        self.runner = runner
        self.timeout = timeout
    }

    /// Finds `nft` on `$PATH` or in the usual sbin directories, or explains how to install it.
    public static func locate(
        path: String? = ProcessInfo.processInfo.environment["PATH"],
        isExecutable: (String) -> Bool = { FileManager.default.isExecutableFile(atPath: $0) }
    ) throws(EgressGuardError) -> String {
        let fromPath = (path ?? "").split(separator: ":").map { "\($0)/nft" }
        var candidates: [String] = []
        for candidate in fromPath + fallbackLocations where !candidates.contains(candidate) {
            candidates.append(candidate)
        }
        guard let found = candidates.first(where: isExecutable) else { throw .nftNotFound(searched: candidates) }
        return found
    }

    /// Atomically replaces the table with `ruleset` (idempotent).
    public func apply(_ ruleset: EgressRuleset) async throws {
        try await runChecked(["-f", "-"], input: ruleset.applyScript())
    }

    /// Deletes the table; succeeds when it is already absent.
    public func remove(tableName: String) async throws {
        try await runChecked(["-f", "-"], input: try EgressRuleset.removeScript(tableName: tableName))
    }

    /// The live table as `nft list table` prints it, or `nil` when it does not exist.
    public func listTable(_ tableName: String) async throws -> String? {
        guard EgressRuleset.isValidTableName(tableName) else { throw EgressGuardError.invalidTableName(tableName) }
        let arguments = ["list", "table", "inet", tableName]
        let result = try await runner.run(executable, arguments, input: nil, timeout: timeout)
        if result.status == 0 { return result.stdout }
        // nft reports a missing table as ENOENT; anything else (no permission, no netlink) is a real failure.
        if result.stderr.contains("No such file or directory") { return nil }
        throw EgressGuardError.nftFailed(arguments: arguments, status: result.status, stderr: result.stderr)
    }

    /// Compares the live table with `ruleset`.
    public func check(_ ruleset: EgressRuleset) async throws -> RulesetDrift {
        RulesetDrift.compare(expected: ruleset.render(), live: try await listTable(ruleset.tableName))
    }

    private func runChecked(_ arguments: [String], input: String?) async throws {
        let result = try await runner.run(executable, arguments, input: input, timeout: timeout)
        guard result.status == 0 else {
            throw EgressGuardError.nftFailed(arguments: arguments, status: result.status, stderr: result.stderr)
        }
    }
}
