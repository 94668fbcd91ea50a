import Foundation
import Testing

@testable import AirlockReceipts

/// An attacker who controls the log directory deletes or swaps the checkpoint files (issue #14): with a trusted
/// checkpoint every such rollback must fail with a named reason.
@Suite("Checkpoint rollbacks")
struct RollbackTests {
    static func verify(_ directory: String, trusted: [UInt8]? = nil) throws -> VerificationReport {
        try Auditor(directory: directory, keys: [testSigner().verifierKey]).verify(trustedCheckpoint: trusted)
    }

    static var checkpointPath: (String) -> String { { $0 + "/" + LogFiles.checkpoint } }
    static var historyPath: (String) -> String { { $0 + "/" + LogFiles.checkpointHistory } }

    /// The genuine checkpoint of `size` from the log's history.
    static func genuine(_ directory: String, size: UInt64) throws -> [UInt8] {
        let stored = try CheckpointFiles.readAll(directory: directory).notes
        return try #require(stored.first { (try? SignedCheckpoint(parsing: $0.bytes))?.checkpoint.size == size }).bytes
    }

    /// The history file cut after its entries of size at most `size`.
    static func historyUpTo(_ directory: String, size: UInt64) throws -> [UInt8] {
        var out: [UInt8] = []
        for note in try CheckpointFiles.readAll(directory: directory).notes where note.source != LogFiles.checkpoint {
            guard try SignedCheckpoint(parsing: note.bytes).checkpoint.size <= size else { break }
            let length = UInt32(note.bytes.count)
            out += [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
            out += note.bytes
        }
        return out
    }

    @Test("both checkpoint files deleted: fails with a trusted checkpoint; without one it is a warning")
    func bothDeleted() async throws {
        let (directory, trusted) = try await TamperTests.fixture()
        defer { removeDirectory(directory) }
        try FileManager.default.removeItem(atPath: Self.checkpointPath(directory))
        try FileManager.default.removeItem(atPath: Self.historyPath(directory))
        let failure = try #require(try Self.verify(directory, trusted: trusted).failure)
        #expect(failure.reason == .missingCheckpoint)
        #expect(failure.path == Self.checkpointPath(directory))

        let alone = try Self.verify(directory)
        #expect(alone.isValid)
        #expect(alone.warnings.contains { $0.contains("no checkpoint") })
    }

    @Test("checkpoints.log deleted, checkpoint kept: fails with a trusted checkpoint")
    func historyDeleted() async throws {
        let (directory, trusted) = try await TamperTests.fixture()
        defer { removeDirectory(directory) }
        try FileManager.default.removeItem(atPath: Self.historyPath(directory))
        let failure = try #require(try Self.verify(directory, trusted: trusted).failure)
        #expect(failure.reason == .missingCheckpoint)
        #expect(failure.path == Self.historyPath(directory))
        let alone = try Self.verify(directory)
        #expect(alone.isValid)
        #expect(alone.warnings.contains { $0.contains(LogFiles.checkpointHistory) })
    }

    @Test("checkpoint deleted, checkpoints.log kept: fails, with or without a trusted checkpoint")
    func checkpointDeleted() async throws {
        let (directory, trusted) = try await TamperTests.fixture()
        defer { removeDirectory(directory) }
        try FileManager.default.removeItem(atPath: Self.checkpointPath(directory))
        let failure = try #require(try Self.verify(directory, trusted: trusted).failure)
        #expect(failure.reason == .missingCheckpoint)
        #expect(failure.path == Self.checkpointPath(directory))
        let alone = try #require(try Self.verify(directory).failure)
        #expect(alone.reason == .missingCheckpoint)
    }

    @Test("an older genuine checkpoint swapped in over an intact history")
    func olderCheckpointSwapped() async throws {
        let (directory, trusted) = try await TamperTests.fixture()
        defer { removeDirectory(directory) }
        writeBytes(try Self.genuine(directory, size: 10), to: Self.checkpointPath(directory))
        let alone = try #require(try Self.verify(directory).failure)
        #expect(alone.reason == .checkpointNotLatest)
        #expect(alone.checkpointSize == 10)
        let withTrusted = try #require(try Self.verify(directory, trusted: trusted).failure)
        #expect(withTrusted.reason == .rolledBack)
        #expect(withTrusted.checkpointSize == 10)
    }

    @Test("the history cut back while checkpoint keeps the newest: a warning alone, a rollback against a trusted one")
    func historyCutBack() async throws {
        let (directory, trusted) = try await TamperTests.fixture()
        defer { removeDirectory(directory) }
        writeBytes(try Self.historyUpTo(directory, size: 15), to: Self.historyPath(directory))
        let alone = try Self.verify(directory)
        #expect(alone.isValid)
        #expect(alone.warnings.contains { $0.contains("newer than the last entry of \(LogFiles.checkpointHistory)") })
        let withTrusted = try #require(try Self.verify(directory, trusted: trusted).failure)
        #expect(withTrusted.reason == .rolledBack)
        #expect(withTrusted.checkpointSize == 15)
        #expect(withTrusted.path == Self.historyPath(directory))
    }

    @Test("history and checkpoint rolled back together over intact records, caught by the trusted checkpoint")
    func bothRolledBack() async throws {
        let (directory, trusted) = try await TamperTests.fixture()
        defer { removeDirectory(directory) }
        writeBytes(try Self.genuine(directory, size: 15), to: Self.checkpointPath(directory))
        writeBytes(try Self.historyUpTo(directory, size: 15), to: Self.historyPath(directory))
        #expect(try Self.verify(directory).isValid)
        let failure = try #require(try Self.verify(directory, trusted: trusted).failure)
        #expect(failure.reason == .rolledBack)
        #expect(failure.checkpointSize == 15)
    }

    @Test("a crash between writing checkpoint and appending it to checkpoints.log: reopening completes the history")
    func crashWindowRepairedOnOpen() async throws {
        let (directory, _) = try await TamperTests.fixture()
        defer { removeDirectory(directory) }
        let history = readBytes(Self.historyPath(directory))
        // `checkpoint` is written first, so a crash leaves the history one entry behind.
        writeBytes(try Self.historyUpTo(directory, size: 20), to: Self.historyPath(directory))
        #expect(try Self.verify(directory).isValid)
        let log = try await ReceiptLog.open(testConfiguration(directory))
        #expect(log.recovery.messages.contains { $0.contains(LogFiles.checkpointHistory) }, "\(log.recovery.messages)")
        try await log.close()
        let completed = readBytes(Self.historyPath(directory)) == history
        #expect(completed, "checkpoints.log was not completed")
    }
}
