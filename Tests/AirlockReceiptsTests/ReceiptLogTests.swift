import Foundation
import Testing

@testable import AirlockReceipts

@Suite("Receipt log: appends, recovery, keys")
struct ReceiptLogTests {
    @Test("concurrent appends get unique consecutive indices and the log verifies")
    func concurrentAppends() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let log = try await ReceiptLog.open(testConfiguration(directory, everyRecords: 50, segmentBytes: 16 * 1024))
        let indices = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for writer in 0..<16 {
                group.addTask {
                    var mine: [UInt64] = []
                    for number in 0..<50 {
                        mine.append(try await log.append(sampleReceipt(number, sandbox: "w\(writer)")))
                    }
                    return mine
                }
            }
            var all: [UInt64] = []
            for try await part in group { all += part }
            return all
        }
        try await log.close()
        // Index 0 is the admin record announcing the signing keys.
        #expect(indices.sorted() == Array(1...800))
        let report = try Auditor(directory: directory, keys: [testSigner().verifierKey]).verify()
        #expect(report.isValid, "\(report.summary)")
        #expect(report.size == 801)
        #expect(report.segments > 1)
        #expect(report.latestCheckpoint?.checkpoint.size == 801)
        #expect(report.kinds["admin"] == 1)
    }

    @Test("the first record announces the signing keys; reopening is idempotent")
    func reopen() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        #expect(try await makeLog(directory, count: 4) == 5)
        let first = try LogReader(directory: directory).entry(at: 0)
        #expect(first?.kind == "admin")
        #expect(first?["keys"]?.stringValue == testSigner().verifierKey.text)
        for _ in 0..<2 {
            let log = try await ReceiptLog.open(testConfiguration(directory))
            #expect(log.recovery.size == 5)
            #expect(log.recovery.tornFrame == nil)
            #expect(log.durableSize == 5)
            try await log.close()
        }
        #expect(try LogReader(directory: directory).storedLeafHashes().count == 5)
    }

    @Test("a torn final frame is cut off and reported, then appending resumes")
    func tornTail() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        try await makeLog(directory, count: 6)
        let path = segmentPath(directory)
        let intact = readBytes(path)
        let lastFrame = frames(of: path).last!
        // A later record's frame, cut in the middle, as a crash during write leaves it.
        let torn = Array(intact[lastFrame.offset..<lastFrame.end].prefix(40))
        writeBytes(intact + torn, to: path)

        let log = try await ReceiptLog.open(testConfiguration(directory))
        let cut = try #require(log.recovery.tornFrame)
        #expect(cut.index == 7)
        #expect(cut.bytesCut == 40)
        #expect(cut.offset == intact.count)
        #expect(try await log.append(sampleReceipt(1)) == 7)
        try await log.close()
        #expect(try Auditor(directory: directory, keys: [testSigner().verifierKey]).verify().isValid)
    }

    @Test("a log shorter than its last signed checkpoint refuses to open and is left untouched")
    func shorterThanCheckpoint() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        try await makeLog(directory, count: 9)
        let path = segmentPath(directory)
        let cutAt = frames(of: path)[8].offset
        let shortened = Array(readBytes(path).prefix(cutAt))
        writeBytes(shortened, to: path)
        let error = await #expect(throws: ReceiptLogError.self) {
            try await ReceiptLog.open(testConfiguration(directory))
        }
        #expect(error?.code == .integrityAlarm)
        #expect(error?.message.contains("commits to 10") == true, "\(String(describing: error))")
        #expect(readBytes(path) == shortened)
    }

    @Test("a log inconsistent with its last checkpoint refuses to open")
    func inconsistentWithCheckpoint() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        try await makeLog(directory, count: 9)
        let path = segmentPath(directory)
        var bytes = readBytes(path)
        // Change one stored leaf hash: the rebuilt tree no longer has the checkpoint's root.
        bytes[frames(of: path)[3].offset + 4] ^= 0x01
        writeBytes(bytes, to: path)
        let error = await #expect(throws: ReceiptLogError.self) {
            try await ReceiptLog.open(testConfiguration(directory))
        }
        #expect(error?.code == .integrityAlarm)
        #expect(error?.message.contains("do not match") == true, "\(String(describing: error))")
    }

    @Test("a second writer is refused while the log is open; appends after close throw")
    func lockingAndClose() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let log = try await ReceiptLog.open(testConfiguration(directory))
        let locked = await #expect(throws: ReceiptLogError.self) {
            try await ReceiptLog.open(testConfiguration(directory))
        }
        #expect(locked?.code == .locked)
        try await log.close()
        try await log.close()
        let closed = await #expect(throws: ReceiptLogError.self) { try await log.append(sampleReceipt(0)) }
        #expect(closed?.code == .closed)
    }

    @Test("key rotation: a new key set is recorded as an admin leaf, old checkpoints stay verifiable")
    func rotation() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let old = testSigner(1)
        let new = testSigner(9, name: "test.airlock/receipts-2026")
        try await makeLog(directory, count: 3, signers: [old])
        // Rotate: sign with both for a while, then only with the new key.
        try await makeLog(directory, count: 3, signers: [old, new])
        var configuration = testConfiguration(directory, signers: [new])
        configuration.trustedKeys = [old.verifierKey]
        let log = try await ReceiptLog.open(configuration)
        _ = try await log.append(sampleReceipt(0))
        try await log.close()

        var admins: [ReceiptEntry] = []
        try LogReader(directory: directory).forEach { entry in
            if entry.kind == "admin" { admins.append(entry) }
            return true
        }
        #expect(admins.map(\.index) == [0, 4, 8])
        #expect(admins[1]["keys"]?.stringValue?.contains(new.verifierKey.text) == true)
        let both = try Auditor(directory: directory, keys: [old.verifierKey, new.verifierKey]).verify()
        #expect(both.isValid, "\(both.summary)")
        #expect(both.signedBy == [new.name])
        // An auditor that only knows the new key cannot check the checkpoints signed before the rotation.
        let onlyNew = try Auditor(directory: directory, keys: [new.verifierKey]).verify()
        #expect(onlyNew.failure?.reason == .noKnownSignature)

        // Opening with only the new key and without trusting the old one is fine here: the last checkpoint is
        // signed by the new key. A log whose last checkpoint only an unknown key signed is refused.
        let other = makeTemporaryDirectory()
        defer { removeDirectory(other) }
        try await makeLog(other, count: 2, signers: [old])
        let refused = await #expect(throws: ReceiptLogError.self) {
            try await ReceiptLog.open(testConfiguration(other, signers: [new]))
        }
        #expect(refused?.code == .integrityAlarm)
    }

    @Test("batched durability returns before the sync and still lands every record")
    func batched() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        var configuration = testConfiguration(directory)
        configuration.durability = .batched(maxDelay: .milliseconds(5))
        let log = try await ReceiptLog.open(configuration)
        for number in 0..<300 { _ = try await log.append(sampleReceipt(number)) }
        try await log.close()
        let report = try Auditor(directory: directory, keys: [testSigner().verifierKey]).verify()
        #expect(report.isValid && report.size == 301)
    }

    @Test("follow returns records as they land, across segments")
    func follow() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let log = try await ReceiptLog.open(testConfiguration(directory, segmentBytes: 4096))
        var follower = LogFollower(directory: directory, from: 1)
        #expect(try follower.poll().isEmpty)
        var seen: [UInt64] = []
        for round in 0..<5 {
            for number in 0..<20 { _ = try await log.append(sampleReceipt(round * 20 + number)) }
            seen += try follower.poll().map(\.index)
        }
        try await log.close()
        #expect(seen == Array(1...100))
        #expect(try SegmentName.list(in: directory).count > 2)
    }
}

/// The directory lock is let go of when the log closes, even while another copy of its descriptor exists: a process
/// that spawns children (the router, the test process) hands every child a copy between fork and exec.
@Suite("Receipt log lock")
struct LogLockTests {
    @Test("released while a copy of its descriptor is still open (a child between fork and exec): the log opens again at once")
    func releasedDespiteCopy() throws {
        let directory = makeTemporaryDirectory("lock")
        defer { removeDirectory(directory) }
        let lock = try LogLock(directory: directory)
        let copy = dup(lock.fd)
        defer { close(copy) }
        lock.release()
        let again = try LogLock(directory: directory)
        again.release()
    }
}

