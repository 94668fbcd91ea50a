import AirlockJSON
import Foundation
import Testing

@testable import AirlockReceipts

/// The fast paths (record validator, direct record encoder, chunked segment reading, pipelined group commit) must
/// behave exactly like the reference code they replace on the hot path.
@Suite("Fast paths agree with the reference implementations")
struct FastPathTests {
    /// The strict JSON reader's reading of a document: its members, or nil if it is not JSON.
    static func strict(_ bytes: [UInt8]) -> [JSONMember]? {
        guard let value = try? JSONReader.parse(bytes, allowingByteOrderMark: false),
            case .object(let members) = value.kind
        else { return nil }
        return members
    }

    static func fast(_ bytes: [UInt8]) -> CanonicalRecordValidator.Failure? {
        var fields = RecordFields()
        return bytes.withUnsafeBytes { CanonicalRecordValidator.validate($0, into: &fields) }
    }

    static let samples: [String] = [
        "{}", "{\"a\":1}", "{\"a\":-9223372036854775808}", "{\"a\":9223372036854775807}", "{\"a\":9223372036854775808}",
        "{\"a\":-9223372036854775809}", "{\"a\":18446744073709551616}", "{\"a\":0}", "{\"a\":-1}", "{\"a\":true,\"b\":false}",
        "{\"a\":\"\\\"\\\\\\b\\t\\n\\f\\r\\u0000\\u001f\\u000b\"}", "{\"a\":\"\\u0008\"}", "{\"a\":\"\\u00A0\"}",
        "{\"a\":\"\\u0020\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\", "{\"a\":\"abc", "{\"a\":\"0123456789abcdef0123\"}",
        "{\"a\":\"0123456789abcdef\\n0123\"}", "{\"a\":\"0123456\u{7}89abcdef\"}", "{\"a\":\"grüße, 日本語 😀 long enough\"}",
        "{\"\u{E000}\":1,\"\u{1F600}\":2}", "{\"\u{1F600}\":1,\"\u{E000}\":2}", "{\"ab\":1,\"abc\":2}", "{\"abc\":1,\"ab\":2}",
        "{\"a\":1,}", "{\"a\":1 }", "{\"a\":1}x", "{\"a\"", "{\"a\":", "{", "{\"a\":t", "{\"a\":fals}", "{\"a\":-}",
        "{\"a\":-01}", "{\"a\":1.0}", "{\"a\":1E5}", "{\"a\":00}", "{\"v\":\"1\"}", "{\"index\":true}",
        "{\"a\":1, \"b\":2}", "{ \"a\":1}", "{\"b\":1,\"a\":2}", "{\"a\":1,\"a\":2}", "{\"a\":1.5}", "{\"a\":1e3}",
        "{\"a\":01}", "{\"a\":-0}", "{\"a\":null}", "{\"a\":[1]}", "{\"a\":{}}", "{\"a\":\"\\/\"}",
        "{\"a\":\"\\u0041\"}", "{\"a\":\"\\u000a\"}", "{\"a\":\"\\u001F\"}", "{\"a\":\"\u{01}\"}", "{\"a\":1}\n",
        "{\"a\":99999999999999999999}", "{\"a\":tru}", "[1]", "",
    ]

    @Test("canonical records are strict JSON: what the validator accepts, the JSON reader reads the same")
    func validatorMatchesParser() {
        var inputs = Self.samples.map { Array($0.utf8) }
        inputs.append(Array("{\"a\":\"".utf8) + [0xC3, 0x28] + Array("\"}".utf8))
        inputs.append(Array("{\"a\":\"0123456789".utf8) + [0xE2, 0x82] + Array("\"}".utf8))
        // Real records, and every single-byte change of one of them.
        let record = CanonicalJSON.encode(
            try! sampleReceipt(3).members(origin: testOrigin, defaultTime: 0) + [("index", .integer(3))]
        )
        inputs.append(record)
        var generator = SystemRandomNumberGenerator()
        for position in record.indices {
            for replacement: UInt8 in [0x00, 0x0A, 0x20, 0x22, 0x2C, 0x2D, 0x30, 0x31, 0x3A, 0x5C, 0x7B, 0x7D, 0xC3, 0xFF] {
                var changed = record
                changed[position] = replacement
                inputs.append(changed)
            }
            inputs.append(Array(record[..<position]))
            var random = record
            random[position] = UInt8.random(in: 0...255, using: &generator)
            inputs.append(random)
        }
        var accepted = 0
        for input in inputs {
            let text = String(decoding: input, as: UTF8.self)
            guard Self.fast(input) == nil else { continue }
            accepted += 1
            guard let members = Self.strict(input) else {
                Issue.record("canonical but not strict JSON: \(text)")
                continue
            }
            let read = try? CanonicalRecordReader.parse(input)
            #expect(read?.map(\.0) == members.map(\.key), "\(text)")
        }
        #expect(accepted > 10)
        // The reasons and offsets that verify reports.
        #expect(Self.fast(Array("{\"a\":1 }".utf8)) == .init(offset: 6, reason: "expected ',' or '}'"))
        #expect(Self.fast(Array("{\"b\":1,\"a\":2}".utf8)) == .init(offset: 7, reason: "member names are not unique and sorted"))
    }

    @Test("the validator reports v, index, time, origin and kind, and wrongly typed ones")
    func validatorFields() {
        let bytes = Array("{\"index\":7,\"kind\":\"request\",\"origin\":\"o\\n\",\"time\":-5,\"v\":1,\"x\":true}".utf8)
        var fields = RecordFields()
        let failure = bytes.withUnsafeBytes { buffer in
            let failure = CanonicalRecordValidator.validate(buffer, into: &fields)
            #expect(fields.origin.map { Array($0) } == Array("o\\n".utf8))
            #expect(fields.kind.map { Array($0) } == Array("request".utf8))
            return failure
        }
        #expect(failure == nil)
        #expect(fields.index == 7 && fields.time == -5 && fields.version == 1 && fields.wrongType == nil)

        let wrong = Array("{\"index\":\"7\",\"kind\":1,\"v\":1}".utf8)
        var wrongFields = RecordFields()
        let name = wrong.withUnsafeBytes { buffer in
            _ = CanonicalRecordValidator.validate(buffer, into: &wrongFields)
            return wrongFields.wrongType.map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(name == "kind")
    }

    @Test("the direct record encoder writes the same bytes as the general encoder")
    func fastTemplateMatches() throws {
        var receipts: [Receipt] = (0..<6).map { sampleReceipt($0) }
        receipts.append(Receipt(kind: .egress, time: -1, sandbox: "s", egress: .init(host: "example.com", port: 443)))
        receipts.append(
            Receipt(
                kind: .egress,
                egress: .init(host: "h", port: 1, address: "10.0.0.1", bytesUp: 0, bytesDown: Int64.max, durationMicroseconds: Int64.min)
            )
        )
        receipts.append(Receipt(kind: ReceiptKind(rawValue: "quote\"back\\slash\nctl\u{01}"), sandbox: "grüße 😀", tenant: ""))
        receipts.append(
            Receipt(
                kind: .completion,
                policyDigest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                requestHMAC: BodyDigest(hex: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"),
                responseHMAC: BodyDigest(hex: "FCDE2B2EDBA56BF408601FB721FE9B5C338D10EE429EA04FAE5511B68FBF8FB9"),
                requestIndex: UInt64(Int64.max)
            )
        )
        receipts.append(Receipt(kind: .admin))
        for receipt in receipts {
            let members = try receipt.members(origin: testOrigin, defaultTime: 42)
            let (prefix, suffix) = CanonicalJSON.encodeTemplate(members, slot: "index")
            let fast = try #require(receipt.fastTemplate(origin: testOrigin, defaultTime: 42))
            #expect(fast.bytes == prefix + suffix, "\(String(decoding: fast.bytes, as: UTF8.self))")
            #expect(fast.slot == prefix.count)
        }
        // Cases the general path must handle (and reject): the fast path declines them.
        #expect(Receipt(kind: .admin, extensions: ["keys": .string("k")]).fastTemplate(origin: "o", defaultTime: 0) == nil)
        #expect(Receipt(kind: .request, reason: String(repeating: "x", count: 513)).fastTemplate(origin: "o", defaultTime: 0) == nil)
        #expect(Receipt(kind: .completion, requestIndex: UInt64.max).fastTemplate(origin: "o", defaultTime: 0) == nil)
    }

    @Test("decimal digits without String")
    func decimal() {
        for value: Int64 in [0, 1, 9, 10, -1, -10, 1_767_225_600_000_000_000, .max, .min] {
            var out: [UInt8] = []
            FastDecimal.append(value, to: &out)
            #expect(String(decoding: out, as: UTF8.self) == String(value))
        }
        var out: [UInt8] = []
        FastDecimal.append(unsigned: .max, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == String(UInt64.max))
    }

    @Test("segments larger than the read chunk verify, and damage past the first chunk is found at its index")
    func chunkedVerification() async throws {
        let directory = makeTemporaryDirectory("chunks")
        defer { removeDirectory(directory) }
        var configuration = testConfiguration(directory, everyRecords: 300)
        configuration.durability = .batched(maxDelay: .milliseconds(5))
        let log = try await ReceiptLog.open(configuration)
        for number in 0..<1_500 { _ = try await log.append(sampleReceipt(number)) }
        try await log.close()
        let path = segmentPath(directory)
        let bytes = readBytes(path)
        #expect(bytes.count > 2 * Auditor.readChunkBytes)
        let auditor = Auditor(directory: directory, keys: [testSigner().verifierKey])
        let report = try auditor.verify()
        #expect(report.isValid, "\(report.summary)")
        #expect(report.size == 1_501)

        // A frame that straddles the first chunk boundary, then one well past it.
        let all = frames(of: path)
        let straddling = try #require(all.firstIndex { $0.offset < Auditor.readChunkBytes && $0.end > Auditor.readChunkBytes })
        for index in [straddling, all.count - 3] {
            var damaged = bytes
            damaged[all[index].leaf.upperBound - 3] ^= 0x01
            writeBytes(damaged, to: path)
            let failure = try #require(try auditor.verify().failure)
            #expect(failure.reason == .leafHashMismatch)
            #expect(failure.index == UInt64(index))
        }
        writeBytes(bytes, to: path)
        #expect(try auditor.verify().isValid)
    }

    @Test("pipelined group commit under .sync: many writers across many segment rolls, every index acknowledged once")
    func pipelinedCommit() async throws {
        let directory = makeTemporaryDirectory("pipeline")
        defer { removeDirectory(directory) }
        let log = try await ReceiptLog.open(testConfiguration(directory, everyRecords: 97, segmentBytes: 8 * 1024))
        let indices = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for writer in 0..<32 {
                group.addTask {
                    var mine: [UInt64] = []
                    for number in 0..<40 {
                        let index = try await log.append(sampleReceipt(number, sandbox: "w\(writer)"))
                        // Acknowledged means durable: the log never reports fewer durable records.
                        #expect(log.durableSize > index)
                        mine.append(index)
                    }
                    return mine
                }
            }
            var all: [UInt64] = []
            for try await part in group { all += part }
            return all
        }
        try await log.close()
        #expect(indices.sorted() == Array(1...1_280))
        let report = try Auditor(directory: directory, keys: [testSigner().verifierKey]).verify()
        #expect(report.isValid, "\(report.summary)")
        #expect(report.size == 1_281)
        #expect(report.segments > 10)
        #expect(report.latestCheckpoint?.checkpoint.size == 1_281)
    }
}
