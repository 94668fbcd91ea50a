import Foundation
import Testing

@testable import AirlockReceipts

/// Writes a log of exactly `leaves`, framed and signed as the writer would, so that only the records themselves can
/// be wrong: a buggy or dishonest writer with the signing key.
func writeSignedLog(_ directory: String, leaves: [String], signers: [CheckpointSigner] = [testSigner()]) throws {
    var segment: [UInt8] = []
    var range = CompactRange()
    for leaf in leaves {
        let hash = Array(leaf.utf8).withUnsafeBytes { Frame.append(leaf: $0, to: &segment) }
        range.append(hash)
    }
    writeBytes(segment, to: segmentPath(directory))
    let checkpoint = try SignedCheckpoint(
        signing: Checkpoint(origin: testOrigin, size: range.size, root: range.root),
        with: signers
    )
    try CheckpointFiles.write(checkpoint.serialized, directory: directory)
}

/// The schema of docs/receipts.md section 3, enforced (issue #14): each record below is canonical and signed, yet
/// breaks the schema, and must fail with the named reason.
@Suite("Record schema")
struct SchemaTests {
    static let keys = testSigner().verifierKey.text
    static let admin =
        "{\"index\":0,\"keys\":\"\(keys)\",\"kind\":\"admin\",\"origin\":\"\(testOrigin)\",\"reason\":\"signing_keys_changed\",\"time\":1,\"v\":1}"

    /// A valid request record at index 1 with `members` (canonical JSON members without braces, sorted) merged in.
    static func request(_ replacing: [String: String] = [:], index: Int = 1) -> String {
        var members: [String: String] = [
            "decision": "\"allow\"", "index": "\(index)", "kind": "\"request\"", "origin": "\"\(testOrigin)\"",
            "reason": "\"admitted\"", "sandbox": "\"agent-1\"", "status": "200", "time": "2", "uid": "1000", "v": "1",
        ]
        for (name, value) in replacing { members[name] = value.isEmpty ? nil : value }
        return "{" + members.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}"
    }

    struct Case: CustomStringConvertible, Sendable {
        let description: String
        let leaves: [String]
        let reason: VerificationFailure.Reason
        let index: UInt64
    }

    static let cases: [Case] = [
        Case(
            description: "uid as a string", leaves: [admin, request(["uid": "\"1000\""])], reason: .wrongType, index: 1),
        Case(
            description: "status as a boolean", leaves: [admin, request(["status": "true"])], reason: .wrongType,
            index: 1),
        Case(
            description: "a boolean anywhere", leaves: [admin, request(["decision": "true"])], reason: .wrongType,
            index: 1),
        Case(
            description: "a 600-byte string",
            leaves: [admin, request(["sandbox": "\"" + String(repeating: "x", count: 600) + "\""])],
            reason: .stringTooLong,
            index: 1
        ),
        Case(
            description: "a 513-byte string written with escapes",
            leaves: [admin, request(["sandbox": "\"" + String(repeating: "\\u0001", count: 513) + "\""])],
            reason: .stringTooLong,
            index: 1
        ),
        Case(
            description: "a 65-byte name",
            leaves: [admin, request([String(repeating: "a", count: 65): "1"])],
            reason: .invalidFieldName,
            index: 1
        ),
        Case(
            description: "a name outside [a-z][a-z0-9_]*", leaves: [admin, request(["Color": "1"])],
            reason: .invalidFieldName, index: 1),
        Case(
            description: "an unknown member", leaves: [admin, request(["color": "\"red\""])], reason: .unknownField,
            index: 1),
        Case(
            description: "an unknown kind", leaves: [admin, request(["kind": "\"custom\""])], reason: .invalidValue,
            index: 1),
        Case(
            description: "an unknown decision", leaves: [admin, request(["decision": "\"maybe\""])],
            reason: .invalidValue, index: 1),
        Case(
            description: "a reason that is prose", leaves: [admin, request(["reason": "\"Not a code\""])],
            reason: .invalidValue, index: 1),
        Case(
            description: "a negative count", leaves: [admin, request(["tokens_in": "-1"])], reason: .invalidValue,
            index: 1),
        Case(
            description: "a status that is no HTTP status", leaves: [admin, request(["status": "42"])],
            reason: .invalidValue, index: 1),
        Case(
            description: "a digest that is not lowercase hex",
            leaves: [admin, request(["policy_digest": "\"" + String(repeating: "AB", count: 32) + "\""])],
            reason: .invalidValue,
            index: 1
        ),
        Case(
            description: "a trace id of the wrong length", leaves: [admin, request(["trace_id": "\"abc\""])],
            reason: .invalidValue, index: 1),
        Case(
            description: "a request_index that is not earlier",
            leaves: [admin, request(["kind": "\"completion\"", "request_index": "1"])],
            reason: .invalidValue,
            index: 1
        ),
        Case(
            description: "keys outside a key announcement",
            leaves: [admin, request(["keys": "\"\(keys)\""])],
            reason: .invalidValue,
            index: 1
        ),
        Case(
            description: "a key announcement whose keys do not parse",
            leaves: [admin.replacingOccurrences(of: keys, with: "not-a-key")],
            reason: .invalidValue,
            index: 0
        ),
        Case(
            description: "record 0 is not an admin record", leaves: [request(index: 0)], reason: .invalidFirstRecord,
            index: 0),
        Case(
            description: "record 0 is an admin record without keys",
            leaves: [
                "{\"decision\":\"allow\",\"index\":0,\"kind\":\"admin\",\"origin\":\"\(testOrigin)\",\"reason\":\"router_started\",\"time\":1,\"v\":1}"
            ],
            reason: .invalidFirstRecord,
            index: 0
        ),
        Case(
            description: "a key announcement without keys",
            leaves: [admin, request(["kind": "\"admin\"", "reason": "\"signing_keys_changed\""])],
            reason: .invalidRecord,
            index: 1
        ),
    ]

    @Test("the member lookup finds every member of version 1 and nothing else")
    func memberLookup() {
        for member in RecordSchema.Member.allCases {
            let found = Array(member.name.utf8).withUnsafeBufferPointer {
                RecordSchema.member($0.baseAddress!, $0.count)
            }
            #expect(found == member, "\(member.name)")
        }
        let others = [
            "", "w", "vv", "uie", "kinds", "keyz", "tenanT", "sandbax", "tokens_ix", "torn_bytez", "request_hmad",
            "policy_digesT", "response_index", String(repeating: "a", count: 65),
        ]
        for name in others {
            let found = Array(name.utf8).withUnsafeBufferPointer { buffer in
                buffer.isEmpty ? nil : RecordSchema.member(buffer.baseAddress!, buffer.count)
            }
            #expect(found == nil, "\(name)")
        }
    }

    @Test("the base log verifies")
    func base() throws {
        let directory = makeTemporaryDirectory("schema")
        defer { removeDirectory(directory) }
        try writeSignedLog(directory, leaves: [Self.admin, Self.request()])
        let report = try Auditor(directory: directory, keys: [testSigner().verifierKey]).verify()
        #expect(report.isValid, "\(report.summary)")
    }

    @Test("a canonical, signed record that breaks the schema fails", arguments: cases)
    func violation(_ item: Case) throws {
        let directory = makeTemporaryDirectory("schema")
        defer { removeDirectory(directory) }
        try writeSignedLog(directory, leaves: item.leaves)
        let report = try Auditor(directory: directory, keys: [testSigner().verifierKey]).verify()
        let failure = try #require(report.failure, "\(item) verified")
        #expect(failure.reason == item.reason, "\(failure)")
        #expect(failure.index == item.index, "\(failure)")
    }

    @Test("the writer refuses what the verifier would refuse")
    func writerRefuses() async throws {
        let directory = makeTemporaryDirectory("schema")
        defer { removeDirectory(directory) }
        let log = try await ReceiptLog.open(testConfiguration(directory))
        let bad: [Receipt] = [
            Receipt(kind: ReceiptKind(rawValue: "custom")),
            Receipt(kind: .request, decision: "maybe"),
            Receipt(kind: .request, reason: "Not a code"),
            Receipt(kind: .request, status: 42),
            Receipt(kind: .request, tokensIn: -1),
            Receipt(kind: .request, traceID: "abc"),
            Receipt(kind: .completion, requestIndex: 5),
            Receipt(kind: .request, extensions: ["color": .string("red")]),
            Receipt(kind: .request, extensions: ["keys": .string(Self.keys)]),
        ]
        for receipt in bad {
            let error = await #expect(throws: ReceiptLogError.self, "\(receipt)") { try await log.append(receipt) }
            #expect(error?.code == .invalidRecord)
        }
        try await log.close()
        #expect(try Auditor(directory: directory, keys: [testSigner().verifierKey]).verify().isValid)
    }

    /// Every record shape the router writes (Sources/AirlockRouter: RequestPipeline, EgressProxy, Router).
    static func routerRecords(requestIndex: UInt64, egressIndex: UInt64) -> [Receipt] {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        let digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        let hmac = BodyDigest(hex: digest)
        func router(_ kind: ReceiptKind, _ route: String, _ decision: String, _ reason: String) -> Receipt {
            Receipt(
                kind: kind, time: 1_767_225_600_000_000_000, sandbox: "agent-1", tenant: "acme", uid: 1000,
                route: route,
                decision: decision, reason: reason, traceID: trace, policyDigest: digest
            )
        }
        var started = router(.admin, "router", "allow", "router_started")
        started.sandbox = nil
        started.tenant = nil
        started.traceID = nil
        var intent = router(.request, "chat.completions", "allow", "admitted")
        intent.provider = "openai"
        intent.upstream = "api.openai.com"
        intent.model = "gpt-4o-mini"
        intent.requestHMAC = hmac
        var completion = intent
        completion.kind = .completion
        completion.requestHMAC = nil
        completion.requestIndex = requestIndex
        completion.attempts = 2
        completion.status = 200
        completion.tokensIn = 12
        completion.tokensOut = 34
        completion.decision = "ok"
        completion.reason = "completed"
        completion.responseHMAC = hmac
        completion.latencyMicroseconds = 850_000
        var failed = completion
        failed.decision = "error"
        failed.reason = "upstream_body_failed"
        var denial = router(.request, "/v1/unknown", "deny", "unknown_route")
        denial.status = 404
        var opened = router(.egress, "egress.connect", "allow", "opened")
        opened.traceID = nil
        opened.egress = .init(host: "example.com", port: 443, address: "93.184.216.34")
        var closed = router(.egress, "egress.connect", "ok", "closed")
        closed.traceID = nil
        closed.requestIndex = egressIndex
        closed.latencyMicroseconds = 1_000
        closed.egress = .init(
            host: "example.com", port: 443, address: "2606:2800:220:1::", bytesUp: 10, bytesDown: 20,
            durationMicroseconds: 1_000
        )
        var refused = router(.egress, "egress", "deny", "malformed_request")
        refused.traceID = nil
        refused.status = 400
        var connectFailed = router(.egress, "egress.forward", "error", "connect_failed")
        connectFailed.traceID = nil
        connectFailed.requestIndex = egressIndex
        connectFailed.status = 502
        return [started, intent, completion, failed, denial, opened, closed, refused, connectFailed]
    }

    @Test("every record shape the router writes is accepted by the writer and the verifier")
    func routerShapes() async throws {
        let directory = makeTemporaryDirectory("schema")
        defer { removeDirectory(directory) }
        let log = try await ReceiptLog.open(testConfiguration(directory))
        for receipt in Self.routerRecords(requestIndex: 1, egressIndex: 1) { _ = try await log.append(receipt) }
        _ = try await log.appendRecoveryRecord()
        try await log.close()
        let report = try Auditor(directory: directory, keys: [testSigner().verifierKey]).verify()
        #expect(report.isValid, "\(report.summary)")
        #expect(report.size == 10)
    }
}

/// The keys announced in admin records and the keys that sign checkpoints are linked (docs/receipts.md section 5).
@Suite("Key announcements and checkpoint signers")
struct KeyLinkTests {
    static func admin(_ keys: [NoteVerifierKey], index: Int = 0) -> String {
        "{\"index\":\(index),\"keys\":\"\(keys.map(\.text).sorted().joined(separator: " "))\",\"kind\":\"admin\",\"origin\":\"\(testOrigin)\",\"reason\":\"signing_keys_changed\",\"time\":1,\"v\":1}"
    }

    @Test("a checkpoint signed by a trusted key the log never announced fails")
    func unannouncedSigner() throws {
        let directory = makeTemporaryDirectory("keys")
        defer { removeDirectory(directory) }
        let announced = testSigner(1)
        let other = testSigner(7, name: "test.airlock/other")
        try writeSignedLog(
            directory, leaves: [Self.admin([announced.verifierKey]), SchemaTests.request()], signers: [other])
        let failure = try #require(try Auditor(directory: directory, keys: [other.verifierKey]).verify().failure)
        #expect(failure.reason == .keyNotAnnounced)
        #expect(failure.checkpointSize == 2)
    }

    @Test("a checkpoint missing the signature of an announced key fails")
    func announcedKeyMissing() throws {
        let directory = makeTemporaryDirectory("keys")
        defer { removeDirectory(directory) }
        let first = testSigner(1)
        let second = testSigner(7, name: "test.airlock/second")
        try writeSignedLog(
            directory,
            leaves: [Self.admin([first.verifierKey, second.verifierKey]), SchemaTests.request()],
            signers: [first]
        )
        let failure = try #require(try Auditor(directory: directory, keys: [first.verifierKey]).verify().failure)
        #expect(failure.reason == .announcedKeyMissing)
        #expect(failure.checkpointSize == 2)
    }

    @Test("witness cosignatures by keys the log does not announce are allowed")
    func extraSignature() throws {
        let directory = makeTemporaryDirectory("keys")
        defer { removeDirectory(directory) }
        let signer = testSigner(1)
        let witness = testSigner(8, name: "witness.example/w1")
        try writeSignedLog(
            directory, leaves: [Self.admin([signer.verifierKey]), SchemaTests.request()], signers: [signer, witness])
        let report = try Auditor(directory: directory, keys: [signer.verifierKey]).verify()
        #expect(report.isValid, "\(report.summary)")
    }
}

/// Rules of docs/receipts.md that an independent verifier must get right in the permissive direction.
@Suite("What the spec allows")
struct SpecAllowsTests {
    static func verify(_ directory: String) throws -> VerificationReport {
        try Auditor(directory: directory, keys: [testSigner().verifierKey]).verify()
    }

    @Test("time may decrease from one record to the next")
    func timeNotMonotonic() throws {
        let directory = makeTemporaryDirectory("spec")
        defer { removeDirectory(directory) }
        let later = SchemaTests.request(["time": "9"])
        let earlier = SchemaTests.request(["time": "3"], index: 2)
        try writeSignedLog(directory, leaves: [SchemaTests.admin, later, earlier])
        let report = try Self.verify(directory)
        #expect(report.isValid, "\(report.summary)")
    }

    @Test("U+007F and C1 characters are written as themselves, not escaped")
    func delAndC1() throws {
        let directory = makeTemporaryDirectory("spec")
        defer { removeDirectory(directory) }
        try writeSignedLog(
            directory, leaves: [SchemaTests.admin, SchemaTests.request(["sandbox": "\"a\u{7F}b\u{85}c\""])])
        #expect(try Self.verify(directory).isValid)

        let escaped = makeTemporaryDirectory("spec")
        defer { removeDirectory(escaped) }
        try writeSignedLog(escaped, leaves: [SchemaTests.admin, SchemaTests.request(["sandbox": "\"a\\u007fb\""])])
        #expect(try Self.verify(escaped).failure?.reason == .nonCanonicalRecord)
    }

    @Test("a checkpoint with a C2SP extension line verifies; the line is signed with the rest")
    func extensionLine() throws {
        let directory = makeTemporaryDirectory("spec")
        defer { removeDirectory(directory) }
        try writeSignedLog(directory, leaves: [SchemaTests.admin, SchemaTests.request()])
        let plain = try SignedCheckpoint(parsing: readBytes(directory + "/" + LogFiles.checkpoint)).checkpoint
        let note = try SignedNote.sign(text: plain.text + "extension: value\n", signers: [testSigner()])
        writeBytes(note.serialized, to: directory + "/" + LogFiles.checkpoint)
        try FileManager.default.removeItem(atPath: directory + "/" + LogFiles.checkpointHistory)
        try CheckpointFiles.appendHistory(note.serialized, directory: directory)
        let report = try Self.verify(directory)
        #expect(report.isValid, "\(report.summary)")
        #expect(report.latestCheckpoint?.checkpoint == plain)
    }
}
