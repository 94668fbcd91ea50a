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

    static func run(_ arguments: [String]) throws -> Run {
        let executable = productsDirectory() + "/airlock-core"
        try #require(
            FileManager.default.isExecutableFile(atPath: executable),
            "airlock-core is not built next to the tests; run 'swift build --build-tests' first"
        )
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["receipts"] + arguments
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus,
            output: String(decoding: out, as: UTF8.self),
            error: String(decoding: err, as: UTF8.self)
        )
    }

    @Test("verify with a trusted checkpoint fails on an older checkpoint swapped in, naming the code")
    func verifyRollback() async throws {
        let (directory, trusted) = try await TamperTests.fixture()
        defer { removeDirectory(directory) }
        let trustedPath = directory + ".trusted"
        writeBytes(trusted, to: trustedPath)
        defer { try? FileManager.default.removeItem(atPath: trustedPath) }
        let key = testSigner().verifierKey.text

        let intact = try Self.run(["verify", directory, "--key", key, "--trusted-checkpoint", trustedPath])
        #expect(intact.status == 0, "\(intact.output)\(intact.error)")
        #expect(intact.output.hasPrefix("OK: receipt log verified"))

        writeBytes(try RollbackTests.genuine(directory, size: 10), to: directory + "/" + LogFiles.checkpoint)
        let rolled = try Self.run(["verify", directory, "--key", key, "--trusted-checkpoint", trustedPath])
        #expect(rolled.status == 1)
        #expect(
            rolled.output.hasPrefix("FAILED: rolled-back (checkpoint of size 10) in \(directory)/checkpoint: "),
            "\(rolled.output)")
    }

    @Test("errors read as sentences, not as internal codes")
    func errorSentence() throws {
        let directory = makeTemporaryDirectory("cli")
        defer { removeDirectory(directory) }
        let proof = directory + "/proof"
        writeBytes(Array("not a proof\n".utf8), to: proof)
        let run = try Self.run(["prove", "--verify", proof, "--key", testSigner().verifierKey.text])
        #expect(run.status != 0)
        #expect(run.error.hasPrefix("Error: Malformed proof: "), "\(run.error)")
        #expect(!run.error.contains("malformedProof"), "\(run.error)")
    }
}
