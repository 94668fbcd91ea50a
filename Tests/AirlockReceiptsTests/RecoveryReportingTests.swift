import Foundation
import Testing

@testable import AirlockReceipts

/// What opening a log repaired is reported, in sentences and in the log itself (issue #14); errors read as sentences.
@Suite("Recovery reporting and error messages")
struct RecoveryReportingTests {
    @Test("a torn tail cut at open is described for the operator and recorded as an admin record")
    func tornTailRecorded() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        try await makeLog(directory, count: 6)
        let path = segmentPath(directory)
        let intact = readBytes(path)
        let last = frames(of: path).last!
        writeBytes(intact + Array(intact[last.offset..<last.end].prefix(40)), to: path)

        let log = try await ReceiptLog.open(testConfiguration(directory))
        let messages = log.recovery.messages
        #expect(messages.count == 1)
        #expect(messages.first?.contains("cut 40 bytes") == true, "\(messages)")
        #expect(messages.first?.contains(path) == true, "\(messages)")
        let index = try #require(try await log.appendRecoveryRecord())
        #expect(index == 7)
        // Only once per open.
        #expect(try await log.appendRecoveryRecord() == nil)
        try await log.close()

        let entry = try #require(try LogReader(directory: directory).entry(at: 7))
        #expect(entry.kind == "admin")
        #expect(entry["reason"]?.stringValue == "torn_tail_cut")
        #expect(entry["torn_bytes"]?.integerValue == 40)
        #expect(try Auditor(directory: directory, keys: [testSigner().verifierKey]).verify().isValid)
    }

    @Test("a clean open reports nothing and records nothing")
    func cleanOpen() async throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        try await makeLog(directory, count: 2)
        let log = try await ReceiptLog.open(testConfiguration(directory))
        #expect(log.recovery.messages.isEmpty)
        #expect(try await log.appendRecoveryRecord() == nil)
        try await log.close()
    }

    @Test("errors read as sentences, without internal code names")
    func errorSentences() async throws {
        var errors: [ReceiptLogError] = []
        do { _ = try TLogProof(text: "not a proof\n") } catch { errors.append(error) }
        do { _ = try NoteVerifierKey(text: "no-key-here") } catch { errors.append(error) }
        do { _ = try SignedCheckpoint(parsing: Array("x\n".utf8)) } catch { errors.append(error) }
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let log = try await ReceiptLog.open(testConfiguration(directory))
        do { _ = try await ReceiptLog.open(testConfiguration(directory)) } catch { errors.append(error) }
        do { _ = try await log.append(Receipt(kind: .request, decision: "maybe")) } catch { errors.append(error) }
        try await log.close()
        #expect(errors.count == 5)
        let codeNames = ["malformedProof", "malformedNote", "invalidKey", "invalidRecord", "integrityAlarm", "[file:"]
        for error in errors {
            let text = error.description
            #expect(!codeNames.contains { text.contains($0) } && !text.hasPrefix("receipt log "), "\(text)")
            #expect(text.first?.isUppercase == true, "\(text)")
            #expect(text.hasSuffix("."), "\(text)")
        }
        #expect(errors[0].description.hasPrefix("Malformed proof: "), "\(errors[0])")
    }
}
