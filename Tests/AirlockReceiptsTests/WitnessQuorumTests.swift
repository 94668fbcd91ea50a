import Foundation
import Testing

@testable import AirlockReceipts

/// `airlock receipts verify --witness-key … --witnesses k`: the newest checkpoint counts only with k valid
/// cosignatures from the given witnesses (c2sp.org/tlog-policy), checked by the real binary on a real log.
@Suite("Witness quorum in receipts verify")
struct WitnessQuorumTests {
    static let witnesses = (11...13).map { try! Cosigner(testSigner(UInt8($0), name: "witness.test/w\($0 - 10)")) }

    /// A closed log whose `checkpoint` file is replaced by the same checkpoint carrying `lines`.
    static func fixture(
        cosignedBy cosigners: [Cosigner], extra: (SignedCheckpoint) throws -> [SignedNote.Signature] = { _ in [] }
    )
        async throws -> (directory: String, size: UInt64)
    {
        let directory = makeTemporaryDirectory("quorum")
        try await makeLog(directory, count: 12)
        let path = directory + "/" + LogFiles.checkpoint
        let stored = try SignedCheckpoint(parsing: readBytes(path))
        var lines: [SignedNote.Signature] = []
        for cosigner in cosigners {
            lines.append(try cosigner.cosign(checkpointText: stored.note.text, timestamp: 1_765_000_000).noteSignature)
        }
        lines += try extra(stored)
        writeBytes(try stored.note.adding(lines).serialized, to: path)
        return (directory, stored.checkpoint.size)
    }

    static func verify(_ directory: String, witnesses: [Cosigner], quorum: Int?) async throws -> ReceiptsCLITests.Run {
        var arguments = ["verify", directory, "--key", testSigner().verifierKey.text]
        for witness in witnesses { arguments += ["--witness-key", witness.key.text] }
        if let quorum { arguments += ["--witnesses", String(quorum)] }
        return try await ReceiptsCLITests.run(arguments)
    }

    @Test("2 of 3 witnesses cosigned: a quorum of 2 verifies and names them; all 3 (the default) fails")
    func quorum() async throws {
        let (directory, size) = try await Self.fixture(cosignedBy: Array(Self.witnesses.prefix(2)))
        defer { removeDirectory(directory) }
        let two = try await Self.verify(directory, witnesses: Self.witnesses, quorum: 2)
        #expect(two.status == 0, "\(two.output)\(two.error)")
        #expect(two.output.contains("witnessed:   by witness.test/w1, witness.test/w2"), "\(two.output)")

        let all = try await Self.verify(directory, witnesses: Self.witnesses, quorum: nil)
        #expect(all.status == 1)
        #expect(
            all.output.hasPrefix(
                "FAILED: witness-quorum (checkpoint of size \(size)) in \(directory)/checkpoint: the newest checkpoint is cosigned by witness.test/w1, witness.test/w2, but 3 of the 3 given witness key(s) must cosign it"
            ),
            "\(all.output)"
        )
    }

    @Test("an inclusion proof carries the stored cosignatures; prove --verify checks them against a quorum")
    func proofWithCosignatures() async throws {
        let (directory, _) = try await Self.fixture(cosignedBy: [Self.witnesses[0]])
        defer { removeDirectory(directory) }
        let made = try await ReceiptsCLITests.run(["prove", "3", "--log", directory])
        #expect(made.status == 0, "\(made.error)")
        let proof = directory + ".proof"
        writeBytes(Array(made.output.utf8), to: proof)
        defer { try? FileManager.default.removeItem(atPath: proof) }
        let key = testSigner().verifierKey.text

        let witnessed = try await ReceiptsCLITests.run(
            ["prove", "--verify", proof, "--key", key, "--witness-key", Self.witnesses[0].key.text])
        #expect(witnessed.status == 0, "\(witnessed.error)")
        #expect(witnessed.output.contains("with the required witness cosignatures"), "\(witnessed.output)")

        let short = try await ReceiptsCLITests.run(
            ["prove", "--verify", proof, "--key", key, "--witness-key", Self.witnesses[1].key.text])
        #expect(short.status != 0)
        #expect(
            short.error.contains(
                "Witness quorum not met: the proof's checkpoint is cosigned by none of the given witnesses"),
            "\(short.error)")
    }

    @Test("a checkpoint without cosignatures fails a quorum of 1, and passes when no witness is required")
    func missing() async throws {
        let (directory, _) = try await Self.fixture(cosignedBy: [])
        defer { removeDirectory(directory) }
        let one = try await Self.verify(directory, witnesses: [Self.witnesses[0]], quorum: 1)
        #expect(one.status == 1)
        #expect(
            one.output.contains("the newest checkpoint is cosigned by none of the given witnesses, but 1 of the 1"),
            "\(one.output)")
        let none = try await Self.verify(directory, witnesses: [], quorum: nil)
        #expect(none.status == 0, "\(none.output)")
    }

    @Test("a tampered cosignature (timestamp changed) fails even when the others meet the quorum")
    func tampered() async throws {
        let (directory, _) = try await Self.fixture(cosignedBy: [Self.witnesses[0]]) { stored in
            let genuine = try Self.witnesses[1].cosign(checkpointText: stored.note.text, timestamp: 1_765_000_000)
            let bytes = genuine.noteSignature.signature
            var altered = bytes
            altered[7] ^= 1
            return [SignedNote.Signature(name: genuine.name, keyID: genuine.keyID, signature: altered)]
        }
        defer { removeDirectory(directory) }
        let run = try await Self.verify(directory, witnesses: Self.witnesses, quorum: 1)
        #expect(run.status == 1)
        #expect(
            run.output.contains(
                "the cosignature by witness witness.test/w2+\(Self.witnesses[1].key.keyIDHex) on the newest checkpoint does not verify"
            ),
            "\(run.output)"
        )
    }

    @Test("a cosignature of an older checkpoint copied onto the newest does not count")
    func copiedFromOlder() async throws {
        let (directory, _) = try await Self.fixture(cosignedBy: []) { stored in
            let older = Checkpoint(origin: stored.checkpoint.origin, size: 5, root: RFC6962.emptyRoot)
            return [try Self.witnesses[0].cosign(checkpointText: older.text, timestamp: 1_765_000_000).noteSignature]
        }
        defer { removeDirectory(directory) }
        let run = try await Self.verify(directory, witnesses: [Self.witnesses[0]], quorum: 1)
        #expect(run.status == 1)
        #expect(run.output.contains("does not verify"), "\(run.output)")
    }

    @Test(
        "cosignatures added to the open log's checkpoint are stored in both checkpoint files, verify, and survive reopening"
    )
    func addedToOpenLog() async throws {
        let directory = makeTemporaryDirectory("cosigned")
        defer { removeDirectory(directory) }
        let log = try await ReceiptLog.open(testConfiguration(directory, everyRecords: 5))
        for number in 0..<9 { _ = try await log.append(sampleReceipt(number)) }
        let reader = LogReader(directory: directory)
        // The commit thread writes the checkpoint for size 10 just after the append returns.
        let checkpoint = try await Self.checkpoint(of: 10, reader)
        let line = try Self.witnesses[0].cosign(checkpointText: checkpoint.note.text, timestamp: 1_765_000_000)
            .noteSignature
        #expect(try log.addCosignatures([line], to: checkpoint))
        #expect(try !log.addCosignatures([line], to: checkpoint), "the same line was added twice")
        let stored = try #require(try reader.latestCheckpoint())
        #expect(stored.note.signatures.count == checkpoint.note.signatures.count + 1)
        let policy = try WitnessPolicy(witnesses: [Self.witnesses[0].key], quorum: 1)
        let report = try Auditor(directory: directory, keys: [testSigner().verifierKey], witnessPolicy: policy).verify()
        #expect(report.isValid, "\(report.summary)")

        // A newer checkpoint replaces it: cosignatures for the old one are not written over the new one.
        for number in 9..<14 { _ = try await log.append(sampleReceipt(number)) }
        let newer = try await Self.checkpoint(of: 15, reader)
        #expect(try !log.addCosignatures([line], to: checkpoint))
        try await log.close()

        // The closed log's final checkpoint can still be cosigned (a router submits it to its witnesses as it
        // exits), under the directory lock taken again: never while another process has the log open.
        let finalLine = try Self.witnesses[0].cosign(checkpointText: newer.note.text, timestamp: 1_765_000_001)
            .noteSignature
        let reopened = try await ReceiptLog.open(testConfiguration(directory, everyRecords: 5))
        #expect {
            try log.addCosignatures([finalLine], to: newer)
        } throws: { error in
            (error as? ReceiptLogError)?.code == .locked
        }
        try await reopened.close()
        #expect(try log.addCosignatures([finalLine], to: newer))
        #expect(try !log.addCosignatures([line], to: checkpoint), "cosignatures were written over a newer checkpoint")
        let after = try Auditor(directory: directory, keys: [testSigner().verifierKey], witnessPolicy: policy).verify()
        #expect(after.isValid, "\(after.summary)")
    }

    static func checkpoint(of size: UInt64, _ reader: LogReader) async throws -> SignedCheckpoint {
        for _ in 0..<500 {
            if let stored = try reader.latestCheckpoint(), stored.checkpoint.size == size { return stored }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw ReceiptLogError(.io, "no checkpoint of size \(size) appeared")
    }

    @Test(
        "bad witness options are refused with what to do",
        arguments: [
            (["--witnesses", "1"], "--witnesses needs the witnesses' keys"),
            (
                ["--witness-key", witnesses[0].key.text, "--witnesses", "2"],
                "a quorum of 2 is impossible with 1 witness key(s)"
            ),
            (["--witness-key", witnesses[0].key.text, "--witnesses", "0"], "a quorum of 0 is impossible"),
            (["--witness-key", witnesses[0].key.text, "--witness-key", witnesses[0].key.text], "is given twice"),
            (["--witness-key", testSigner().verifierKey.text], "has type 1, not 4"),
        ]
    )
    func badOptions(options: [String], message: String) async throws {
        let (directory, _) = try await Self.fixture(cosignedBy: [])
        defer { removeDirectory(directory) }
        let run = try await ReceiptsCLITests.run(["verify", directory, "--key", testSigner().verifierKey.text] + options)
        #expect(run.status != 0)
        #expect(run.error.contains(message), "\(run.error)")
    }
}
