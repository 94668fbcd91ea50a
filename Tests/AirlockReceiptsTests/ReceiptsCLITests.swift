import AirlockTestSupport
import Foundation
import Testing

@testable import AirlockReceipts

/// `airlock-core receipts …` as an auditor runs it: exit status, the failure code, and errors as sentences.
@Suite("receipts CLI")
struct ReceiptsCLITests {
    struct Run {
        let status: Int32
        let output: String
        let error: String
    }

    /// `airlock receipts ARGUMENTS` as a child process, waited for off the cooperative pool.
    static func run(_ arguments: [String]) async throws -> Run {
        let run = try await AirlockProcess.runToEnd(["receipts"] + arguments)
        return Run(status: run.status, output: run.output, error: run.error)
    }

    @Test("verify with a trusted checkpoint fails on an older checkpoint swapped in, naming the code")
    func verifyRollback() async throws {
        let (directory, trusted) = try await TamperTests.fixture()
        defer { removeDirectory(directory) }
        let trustedPath = directory + ".trusted"
        writeBytes(trusted, to: trustedPath)
        defer { try? FileManager.default.removeItem(atPath: trustedPath) }
        let key = testSigner().verifierKey.text

        let intact = try await Self.run(["verify", directory, "--key", key, "--trusted-checkpoint", trustedPath])
        #expect(intact.status == 0, "\(intact.output)\(intact.error)")
        #expect(intact.output.hasPrefix("OK: receipt log verified"))

        writeBytes(try RollbackTests.genuine(directory, size: 10), to: directory + "/" + LogFiles.checkpoint)
        let rolled = try await Self.run(["verify", directory, "--key", key, "--trusted-checkpoint", trustedPath])
        #expect(rolled.status == 1)
        #expect(
            rolled.output.hasPrefix("FAILED: rolled-back (checkpoint of size 10) in \(directory)/checkpoint: "),
            "\(rolled.output)")
    }

    @Test("errors read as sentences, not as internal codes")
    func errorSentence() async throws {
        let directory = makeTemporaryDirectory("cli")
        defer { removeDirectory(directory) }
        let proof = directory + "/proof"
        writeBytes(Array("not a proof\n".utf8), to: proof)
        let run = try await Self.run(["prove", "--verify", proof, "--key", testSigner().verifierKey.text])
        #expect(run.status != 0)
        #expect(run.error.hasPrefix("Error: Malformed proof: "), "\(run.error)")
        #expect(!run.error.contains("malformedProof"), "\(run.error)")
    }
}
