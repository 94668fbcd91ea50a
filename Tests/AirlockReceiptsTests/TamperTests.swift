import Foundation
import Testing

@testable import AirlockReceipts

/// Each way of tampering with a closed log, and what the verifier must say about it.
@Suite("Tamper detection")
struct TamperTests {
    static let records = 20
    static let size: UInt64 = 21

    static func verify(_ directory: String, trusted: [UInt8]? = nil, keys: [NoteVerifierKey] = [testSigner().verifierKey])
        throws -> VerificationReport
    {
        try Auditor(directory: directory, keys: keys).verify(trustedCheckpoint: trusted)
    }

    /// A closed log of 21 records with a checkpoint every 5, plus its final checkpoint as an auditor saved it.
    static func fixture() async throws -> (directory: String, checkpoint: [UInt8]) {
        let directory = makeTemporaryDirectory("tamper")
        try await makeLog(directory, count: records)
        let report = try verify(directory)
        #expect(report.isValid, "\(report.summary)")
        #expect(report.size == size)
        return (directory, readBytes(directory + "/" + LogFiles.checkpoint))
    }

    static func editSegment(_ directory: String, _ body: (inout [UInt8], [(offset: Int, leaf: Range<Int>, end: Int)]) -> Void) {
        let path = segmentPath(directory)
        var bytes = readBytes(path)
        body(&bytes, frames(of: path))
        writeBytes(bytes, to: path)
    }

    @Test("intact log verifies; without a trusted checkpoint it says truncation cannot be ruled out")
    func intact() async throws {
        let (directory, checkpoint) = try await Self.fixture()
        defer { removeDirectory(directory) }
        let plain = try Self.verify(directory)
        #expect(plain.isValid)
        #expect(plain.warnings.contains { $0.contains("cannot be ruled out") })
        let trusted = try Self.verify(directory, trusted: checkpoint)
        #expect(trusted.isValid)
        #expect(!trusted.warnings.contains { $0.contains("cannot be ruled out") })
    }

    @Test("one flipped byte of a record", arguments: [0, 7, 20])
    func flipRecordByte(index: Int) async throws {
        let (directory, _) = try await Self.fixture()
        defer { removeDirectory(directory) }
        Self.editSegment(directory) { bytes, frames in bytes[frames[index].leaf.lowerBound + 10] ^= 0x20 }
        let failure = try #require(try Self.verify(directory).failure)
        #expect(failure.reason == .leafHashMismatch)
        #expect(failure.index == UInt64(index))
    }

    @Test("one flipped byte of a stored leaf hash")
    func flipStoredHash() async throws {
        let (directory, _) = try await Self.fixture()
        defer { removeDirectory(directory) }
        Self.editSegment(directory) { bytes, frames in bytes[frames[12].offset + 4 + 31] ^= 0x01 }
        let failure = try #require(try Self.verify(directory).failure)
        #expect(failure.reason == .leafHashMismatch)
        #expect(failure.index == 12)
    }

    @Test("a record rewritten with a matching stored hash breaks the checkpoint roots")
    func consistentRewrite() async throws {
        let (directory, _) = try await Self.fixture()
        defer { removeDirectory(directory) }
        Self.editSegment(directory) { bytes, frames in
            let frame = frames[3]
            var leaf = Array(bytes[frame.leaf])
            let text = String(decoding: leaf, as: UTF8.self).replacingOccurrences(of: "\"status\":200", with: "\"status\":201")
            leaf = Array(text.utf8)
            let hash = RFC6962.leafHash(leaf).bytes
            bytes.replaceSubrange((frame.offset + 4)..<frame.end, with: hash + leaf)
        }
        let failure = try #require(try Self.verify(directory).failure)
        #expect(failure.reason == .rootMismatch)
        #expect(failure.checkpointSize == 5)
    }

    @Test("one flipped byte of a checkpoint signature")
    func flipSignature() async throws {
        let (directory, _) = try await Self.fixture()
        defer { removeDirectory(directory) }
        let path = directory + "/" + LogFiles.checkpoint
        let note = String(decoding: readBytes(path), as: UTF8.self)
        let line = note[note.range(of: "\u{2014} ")!.lowerBound...].dropLast()
        let encoded = String(line.split(separator: " ")[2])
        var raw = Base64.decodeStrict(encoded)!
        raw[20] ^= 0x01
        writeBytes(Array(note.replacingOccurrences(of: encoded, with: Base64.encode(raw)).utf8), to: path)
        let failure = try #require(try Self.verify(directory).failure)
        #expect(failure.reason == .badSignature)
        #expect(failure.checkpointSize == Self.size)
    }

    @Test("a deleted middle record")
    func deleteMiddle() async throws {
        let (directory, _) = try await Self.fixture()
        defer { removeDirectory(directory) }
        Self.editSegment(directory) { bytes, frames in bytes.removeSubrange(frames[9].offset..<frames[9].end) }
        let failure = try #require(try Self.verify(directory).failure)
        #expect(failure.reason == .wrongIndex)
        #expect(failure.index == 9)
    }

    @Test("two swapped records")
    func swap() async throws {
        let (directory, _) = try await Self.fixture()
        defer { removeDirectory(directory) }
        Self.editSegment(directory) { bytes, frames in
            let a = Array(bytes[frames[14].offset..<frames[14].end])
            let b = Array(bytes[frames[15].offset..<frames[15].end])
            bytes.replaceSubrange(frames[14].offset..<frames[15].end, with: b + a)
        }
        let failure = try #require(try Self.verify(directory).failure)
        #expect(failure.reason == .wrongIndex)
        #expect(failure.index == 14)
    }

    @Test("a truncated tail, checkpoints left in place")
    func truncatedTail() async throws {
        let (directory, _) = try await Self.fixture()
        defer { removeDirectory(directory) }
        Self.editSegment(directory) { bytes, frames in bytes.removeSubrange(frames[18].offset...) }
        let failure = try #require(try Self.verify(directory).failure)
        #expect(failure.reason == .truncated)
        // The smallest checkpoint beyond the remaining 18 records is named.
        #expect(failure.checkpointSize == 20)
        #expect(failure.message.contains("18 records"))
    }

    /// Truncates the records and rolls the checkpoint files back to the checkpoint of size 15, as an attacker
    /// who controls the directory would.
    static func truncateWithCheckpoints(_ directory: String) throws {
        editSegment(directory) { bytes, frames in bytes.removeSubrange(frames[15].offset...) }
        let stored = try CheckpointFiles.readAll(directory: directory).notes
        let older = try #require(
            stored.first { (try? SignedCheckpoint(parsing: $0.bytes))?.checkpoint.size == 15 }
        )
        writeBytes(older.bytes, to: directory + "/" + LogFiles.checkpoint)
        try FileManager.default.removeItem(atPath: directory + "/" + LogFiles.checkpointHistory)
    }

    @Test("a truncated tail with rolled-back checkpoints: undetectable alone, caught by a trusted checkpoint")
    func truncatedWithCheckpoints() async throws {
        let (directory, checkpoint) = try await Self.fixture()
        defer { removeDirectory(directory) }
        try Self.truncateWithCheckpoints(directory)
        let alone = try Self.verify(directory)
        #expect(alone.isValid)
        #expect(alone.size == 15)
        #expect(alone.warnings.contains { $0.contains("truncated together with its checkpoints cannot be ruled out") })
        let failure = try #require(try Self.verify(directory, trusted: checkpoint).failure)
        #expect(failure.reason == .truncated)
        #expect(failure.checkpointSize == Self.size)
    }

    @Test("rolled-back checkpoints over intact records")
    func rolledBack() async throws {
        let (directory, checkpoint) = try await Self.fixture()
        defer { removeDirectory(directory) }
        let stored = try CheckpointFiles.readAll(directory: directory).notes
        let older = try #require(stored.first { (try? SignedCheckpoint(parsing: $0.bytes))?.checkpoint.size == 10 })
        writeBytes(older.bytes, to: directory + "/" + LogFiles.checkpoint)
        try FileManager.default.removeItem(atPath: directory + "/" + LogFiles.checkpointHistory)
        let failure = try #require(try Self.verify(directory, trusted: checkpoint).failure)
        #expect(failure.reason == .rolledBack)
        #expect(failure.checkpointSize == 10)
    }

    @Test("a forked log: same key and origin, different records")
    func forked() async throws {
        let (directory, genuineBytes) = try await Self.fixture()
        defer { removeDirectory(directory) }
        let fork = makeTemporaryDirectory("fork")
        defer { removeDirectory(fork) }
        try await makeLog(fork, count: TamperTests.records, sandbox: "someone-else")
        let forkCheckpoint = readBytes(fork + "/" + LogFiles.checkpoint)

        let asTrusted = try #require(try Self.verify(directory, trusted: forkCheckpoint).failure)
        #expect(asTrusted.reason == .rootMismatch)
        #expect(asTrusted.checkpointSize == Self.size)
        #expect(asTrusted.path == "trusted checkpoint")

        writeBytes(forkCheckpoint, to: directory + "/" + LogFiles.checkpoint)
        let inLog = try #require(try Self.verify(directory).failure)
        #expect(inLog.reason == .rootMismatch)
        #expect(inLog.checkpointSize == Self.size)

        // The fork is also refused by the consistency check between the two checkpoints.
        let genuine = try SignedCheckpoint(parsing: genuineBytes)
        let forked = try SignedCheckpoint(parsing: forkCheckpoint)
        let proof = try Prover(directory: fork).consistencyProof(from: forked.checkpoint, to: forked.checkpoint)
        #expect(throws: ReceiptLogError.self) {
            try ProofChecker.verifyConsistency(old: genuine, new: forked, proof: proof, keys: [testSigner().verifierKey])
        }
    }

    @Test("a checkpoint signed by an unknown key next to the known one is accepted; alone it is not")
    func unknownKeyNextToKnown() async throws {
        let (directory, _) = try await Self.fixture()
        defer { removeDirectory(directory) }
        let path = directory + "/" + LogFiles.checkpoint
        let current = try SignedCheckpoint(parsing: readBytes(path)).checkpoint
        let stranger = testSigner(5, name: "stranger.example/key")
        writeBytes(try SignedCheckpoint(signing: current, with: [stranger, testSigner()]).serialized, to: path)
        let both = try Self.verify(directory)
        #expect(both.isValid, "\(both.summary)")
        #expect(both.signedBy == [testSigner().name])

        writeBytes(try SignedCheckpoint(signing: current, with: [stranger]).serialized, to: path)
        let failure = try #require(try Self.verify(directory).failure)
        #expect(failure.reason == .noKnownSignature)
        #expect(failure.checkpointSize == Self.size)
    }

    @Test("malformed checkpoint notes in the log directory", arguments: NoteMutation.allCases)
    func malformedNote(mutation: NoteMutation) async throws {
        let (directory, _) = try await Self.fixture()
        defer { removeDirectory(directory) }
        let path = directory + "/" + LogFiles.checkpoint
        let note = String(decoding: readBytes(path), as: UTF8.self)
            .replacingOccurrences(of: "\n\(Self.size)\n", with: "\n7\n")
        writeBytes(Array(mutation.apply(note).utf8), to: path)
        let failure = try #require(try Self.verify(directory).failure)
        #expect([.malformedCheckpoint, .badSignature].contains(failure.reason), "\(failure)")
        #expect(failure.path == path)
    }

    @Test("a wrong key id on the log's checkpoint")
    func wrongKeyID() async throws {
        let (directory, _) = try await Self.fixture()
        defer { removeDirectory(directory) }
        let path = directory + "/" + LogFiles.checkpoint
        let note = String(decoding: readBytes(path), as: UTF8.self)
        let encoded = String(note[note.range(of: "\u{2014} ")!.lowerBound...].dropLast().split(separator: " ")[2])
        var raw = Base64.decodeStrict(encoded)!
        raw[3] ^= 0x01
        writeBytes(Array(note.replacingOccurrences(of: encoded, with: Base64.encode(raw)).utf8), to: path)
        let failure = try #require(try Self.verify(directory).failure)
        #expect(failure.reason == .noKnownSignature)
        #expect(failure.checkpointSize == Self.size)
    }

    /// A closed log of 60 receipts in small segments (at least three), for the tests that remove or rename one.
    static func segmentedLog(_ directory: String) async throws -> [SegmentName] {
        let log = try await ReceiptLog.open(testConfiguration(directory, segmentBytes: 4096))
        for number in 0..<60 { _ = try await log.append(sampleReceipt(number)) }
        try await log.close()
        let segments = try SegmentName.list(in: directory)
        try #require(segments.count >= 3)
        return segments
    }

    @Test("a missing segment file")
    func missingSegment() async throws {
        let directory = makeTemporaryDirectory("tamper")
        defer { removeDirectory(directory) }
        let segments = try await Self.segmentedLog(directory)
        try FileManager.default.removeItem(atPath: directory + "/" + segments[1].fileName)
        let failure = try #require(try Self.verify(directory).failure)
        #expect(failure.reason == .segmentGap)
        #expect(failure.index == segments[1].firstIndex)
    }

    @Test("the last segment renamed to a name that is not a segment's is reported, never silently skipped",
          arguments: ["receipts-12.seg", "receipts-000000000000000000x1.seg", "receipts-00000000000000000012.seg.bak"])
    func renamedSegment(name: String) async throws {
        let directory = makeTemporaryDirectory("tamper")
        defer { removeDirectory(directory) }
        let segments = try await Self.segmentedLog(directory)
        // The checkpoints would call the log truncated; the verifier names the file that is not a segment.
        try FileManager.default.moveItem(atPath: directory + "/" + segments.last!.fileName, toPath: directory + "/" + name)
        let failure = try #require(try Self.verify(directory).failure)
        #expect(failure.reason == .segmentGap)
        #expect(failure.message.contains(name), "\(failure.message)")
        #expect(failure.message.contains("receipts-<20 digits>.seg"))
    }
}
