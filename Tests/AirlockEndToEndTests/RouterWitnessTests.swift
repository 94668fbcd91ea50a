import AirlockMockUpstream
import AirlockReceipts
import AirlockTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `airlock router` with `receipts.witnesses`, against a real `airlock witness` process: checkpoints are submitted,
/// cosigned and stored with their cosignatures; a second router writing another history under the same origin
/// and key is refused.
@Suite("Router and witness processes", .timeLimit(.minutes(2)))
struct RouterWitnessTests {
    /// A router stack whose receipt log in `logDirectory` is submitted to the witness at `witnessPort`.
    static func stack(
        keyFile: String, witnessPort: Int, witnessKey: CosignerKey, checkpointEvery: Int = 1,
        checkpointInterval: String = "100ms"
    ) async throws -> (RouterProcessTests.Stack, String) {
        let stack = try await RouterProcessTests.stack(routerPort: 0)
        let logDirectory = stack.directory + "/receipts"
        let receipts = """
            receipts:
              directory: \(logDirectory)
              origin: router.test/receipts
              signing_keys: [\(keyFile)]
              checkpoint_every: \(checkpointEvery)
              checkpoint_interval: \(checkpointInterval)
              witnesses:
                - url: http://127.0.0.1:\(witnessPort)
                  key: \(witnessKey.text)
            """
        let config = try String(contentsOfFile: stack.config, encoding: .utf8)
            .replacingOccurrences(of: "receipts: {enabled: false}", with: receipts)
        try TempDirectory.write(stack.config, config, mode: 0o644)
        return (stack, logDirectory)
    }

    /// A directory with a witness key and a log key (`log.key`), and a witness process that witnesses that log.
    static func keysAndWitness() async throws -> (directory: String, logKey: String, witness: WitnessProcessTests.Running) {
        let directory = TempDirectory.make()
        chmod(directory, 0o755)
        _ = try await AirlockProcess.runToEnd([
            "witness", "keygen", "--name", "witness.test/w1", "--out", directory + "/witness",
        ])
        let log = try await AirlockProcess.runToEnd([
            "receipts", "keygen", "--name", "router.test/receipts", "--out", directory + "/log",
        ])
        let logKey = log.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let witness = try await WitnessProcessTests.Running(
            keyFile: directory + "/witness.key", logs: [logKey], state: directory + "/state")
        return (directory, logKey, witness)
    }

    static func storedCheckpoint(_ logDirectory: String) -> SignedCheckpoint? {
        guard let data = FileManager.default.contents(atPath: logDirectory + "/checkpoint") else { return nil }
        return try? SignedCheckpoint(parsing: [UInt8](data))
    }

    static func cosigned(_ checkpoint: SignedCheckpoint?, by key: CosignerKey) -> Bool {
        guard let checkpoint else { return false }
        return (try? WitnessPolicy(witnesses: [key], quorum: 1).check(checkpoint.note).get()) != nil
    }

    @Test("the checkpoint a router writes as it shuts down is cosigned and stored before it exits")
    func shutdownCheckpointCosigned() async throws {
        let (directory, logKey, witness) = try await Self.keysAndWitness()
        // No checkpoint falls due while it serves: the records of these requests are first committed to by the
        // checkpoint written at shutdown.
        let (stack, logDirectory) = try await Self.stack(
            keyFile: directory + "/log.key", witnessPort: witness.port, witnessKey: witness.key,
            checkpointEvery: 100_000, checkpointInterval: "1h")
        let (router, port) = try await RouterProcessTests.startRouterWithPort(stack)
        for _ in 0..<3 { #expect(try await RouterProcessTests.chat(port).hasPrefix("HTTP/1.1 200")) }
        let before = Self.storedCheckpoint(logDirectory)?.checkpoint.size ?? 0
        router.signal(SIGTERM)
        #expect(try await router.waitForExit() == 0)
        let final = Self.storedCheckpoint(logDirectory)
        #expect((final?.checkpoint.size ?? 0) > before, "no checkpoint was written at shutdown")
        #expect(Self.cosigned(final, by: witness.key), "the shutdown checkpoint is not cosigned")
        let verify = try await AirlockProcess.runToEnd(
            ["receipts", "verify", logDirectory, "--key", logKey, "--witness-key", witness.key.text]
        )
        #expect(verify.status == 0, "\(verify.output)\(verify.error)")
        _ = try await witness.stop()
        try await stack.mock.shutdown()
    }

    @Test(
        "each new checkpoint is cosigned and stored with the cosignature; verify with a quorum passes; a forked router is refused"
    )
    func cosignedAndForkRefused() async throws {
        let (directory, logKey, witness) = try await Self.keysAndWitness()

        let (stack, logDirectory) = try await Self.stack(
            keyFile: directory + "/log.key", witnessPort: witness.port, witnessKey: witness.key)
        let (router, port) = try await RouterProcessTests.startRouterWithPort(stack)
        #expect(try await RouterProcessTests.chat(port).hasPrefix("HTTP/1.1 200"))
        let first = await eventually(seconds: 15) {
            Self.cosigned(Self.storedCheckpoint(logDirectory), by: witness.key)
        }
        #expect(first, "no cosigned checkpoint appeared in \(logDirectory)/checkpoint")
        let firstSize = Self.storedCheckpoint(logDirectory)?.checkpoint.size ?? 0

        // The log grows: the next checkpoint is submitted with a consistency proof from the cosigned size.
        for _ in 0..<3 { #expect(try await RouterProcessTests.chat(port).hasPrefix("HTTP/1.1 200")) }
        let grown = await eventually(seconds: 15) {
            guard let stored = Self.storedCheckpoint(logDirectory) else { return false }
            return stored.checkpoint.size > firstSize && Self.cosigned(stored, by: witness.key)
        }
        #expect(grown, "the grown log's checkpoint was not cosigned")

        // A running router may have just written a checkpoint its witness has not answered yet; the one it writes
        // as it stops is cosigned before it exits, so the log verified here ends with a cosigned checkpoint.
        router.signal(SIGTERM)
        #expect(try await router.waitForExit() == 0)
        let verify = try await AirlockProcess.runToEnd(
            [
                "receipts", "verify", logDirectory, "--key", logKey, "--witness-key", witness.key.text, "--witnesses",
                "1",
            ]
        )
        #expect(verify.status == 0, "\(verify.output)\(verify.error)")
        #expect(verify.output.contains("witnessed:   by witness.test/w1"), "\(verify.output)")

        // A second router with the same origin and key but its own log: another history, which the witness refuses.
        let (forkStack, forkDirectory) = try await Self.stack(
            keyFile: directory + "/log.key", witnessPort: witness.port, witnessKey: witness.key)
        let (fork, forkPort) = try await RouterProcessTests.startRouterWithPort(forkStack)
        #expect(try await RouterProcessTests.chat(forkPort).hasPrefix("HTTP/1.1 200"))
        try await Task.sleep(for: .seconds(3))
        #expect(Self.storedCheckpoint(forkDirectory) != nil)
        #expect(
            !Self.cosigned(Self.storedCheckpoint(forkDirectory), by: witness.key), "the witness cosigned a forked log")
        let forkVerify = try await AirlockProcess.runToEnd(
            ["receipts", "verify", forkDirectory, "--key", logKey, "--witness-key", witness.key.text]
        )
        #expect(forkVerify.status == 1)
        #expect(forkVerify.output.hasPrefix("FAILED: witness-quorum"), "\(forkVerify.output)")

        fork.signal(SIGTERM)
        #expect(try await fork.waitForExit() == 0)
        #expect(fork.standardError().contains("witness refused the checkpoint"), "\(fork.standardError())")
        let witnessLog = try await witness.stop()
        #expect(witnessLog.contains("refused for 'router.test/receipts'"), "\(witnessLog)")
        try await stack.mock.shutdown()
        try await forkStack.mock.shutdown()
    }
}
