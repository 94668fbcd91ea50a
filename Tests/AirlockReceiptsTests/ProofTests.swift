import Foundation
import Testing

@testable import AirlockReceipts

@Suite("Proofs from a real log")
struct ProofTests {
    @Test("inclusion proofs for every record verify from the proof text alone; tampering fails")
    func inclusion() async throws {
        let directory = makeTemporaryDirectory("proofs")
        defer { removeDirectory(directory) }
        try await makeLog(directory, count: 12)
        let prover = try Prover(directory: directory)
        let keys = [testSigner().verifierKey]
        for index in 0..<UInt64(13) {
            let proof = try prover.inclusionProof(index: index)
            let parsed = try TLogProof(text: proof.text)
            #expect(try ProofChecker.verify(parsed, keys: keys).size == 13)
            var leaf = try #require(parsed.leaf)
            leaf[leaf.count / 2] ^= 1
            #expect(throws: ReceiptLogError.self) { try ProofChecker.verify(parsed, keys: keys, leaf: leaf) }
            #expect(throws: ReceiptLogError.self) { try ProofChecker.verify(parsed, keys: [testSigner(8).verifierKey]) }
        }
        #expect(throws: ReceiptLogError.self) { try prover.inclusionProof(index: 13) }
    }

    @Test("consistency proofs between the log's checkpoints verify; a rollback is refused")
    func consistency() async throws {
        let directory = makeTemporaryDirectory("proofs")
        defer { removeDirectory(directory) }
        try await makeLog(directory, count: 17)
        let notes = try CheckpointFiles.readAll(directory: directory).notes.map { try SignedCheckpoint(parsing: $0.bytes) }
        #expect(notes.count >= 4)
        let prover = try Prover(directory: directory)
        let keys = [testSigner().verifierKey]
        for old in notes {
            for new in notes where new.checkpoint.size >= old.checkpoint.size {
                let proof = try prover.consistencyProof(from: old.checkpoint, to: new.checkpoint)
                try ProofChecker.verifyConsistency(old: old, new: new, proof: proof, keys: keys)
            }
        }
        let first = notes.first!
        let last = notes.last!
        #expect(throws: ReceiptLogError.self) {
            try ProofChecker.verifyConsistency(old: last, new: first, proof: [], keys: keys)
        }
    }
}
