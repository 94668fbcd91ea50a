import Testing

@testable import AirlockReceipts

@Suite("Canonical JSON (RFC 8785 rules)")
struct CanonicalJSONTests {
    @Test("members are sorted by UTF-16 code units, with no whitespace")
    func ordering() {
        let bytes = CanonicalJSON.encode([
            ("b", .integer(1)), ("a", .bool(true)), ("\u{E000}", .integer(2)), ("\u{1F600}", .integer(3)),
            ("A", .string("x")),
        ])
        // U+1F600 is the surrogate pair D83D DE00, which sorts before U+E000 in UTF-16 (RFC 8785 section 3.2.3).
        #expect(String(decoding: bytes, as: UTF8.self) == "{\"A\":\"x\",\"a\":true,\"b\":1,\"\u{1F600}\":3,\"\u{E000}\":2}")
    }

    @Test(
        "strings use the minimal escapes of RFC 8785",
        arguments: [
            ("plain", "\"plain\""),
            ("q\"b\\", "\"q\\\"b\\\\\""),
            ("\u{08}\u{09}\u{0A}\u{0C}\u{0D}", "\"\\b\\t\\n\\f\\r\""),
            ("\u{00}\u{1F}\u{0B}", "\"\\u0000\\u001f\\u000b\""),
            ("/ \u{7F} é \u{2028} 😀", "\"/ \u{7F} é \u{2028} 😀\""),
        ]
    )
    func escaping(input: String, expected: String) throws {
        var out: [UInt8] = []
        CanonicalJSON.appendString(input, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == expected)
        let parsed = try CanonicalRecordReader.parse(Array("{\"k\":\(expected)}".utf8))
        #expect(parsed.first?.1 == .string(input))
    }

    @Test("integers are plain decimals over the whole Int64 range")
    func integers() throws {
        for value: Int64 in [0, -1, 7, 9_007_199_254_740_993, .max, .min] {
            let bytes = CanonicalJSON.encode([("n", .integer(value))])
            #expect(String(decoding: bytes, as: UTF8.self) == "{\"n\":\(value)}")
            #expect(try CanonicalRecordReader.parse(bytes).first?.1 == .integer(value))
        }
    }

    @Test("the index slot template produces the same bytes as a direct encoding")
    func template() {
        let members: [(String, ReceiptValue)] = [("z", .integer(1)), ("a", .string("x")), ("kind", .string("y"))]
        let (prefix, suffix) = CanonicalJSON.encodeTemplate(members, slot: "index")
        #expect(prefix + Array("42".utf8) + suffix == CanonicalJSON.encode(members + [("index", .integer(42))]))
    }

    @Test(
        "non-canonical or unsupported JSON is rejected",
        arguments: [
            "{\"a\":1, \"b\":2}", "{ \"a\":1}", "{\"b\":1,\"a\":2}", "{\"a\":1,\"a\":2}", "{\"a\":1.5}", "{\"a\":1e3}",
            "{\"a\":01}", "{\"a\":-0}", "{\"a\":null}", "{\"a\":[1]}", "{\"a\":{}}", "{\"a\":\"\\/\"}",
            "{\"a\":\"\\u0041\"}", "{\"a\":\"\\u000a\"}", "{\"a\":\"\\u001F\"}", "{\"a\":\"\u{01}\"}", "{\"a\":1}\n",
            "{\"a\":99999999999999999999}", "{\"a\":tru}", "[1]", "",
        ]
    )
    func rejects(input: String) {
        #expect(throws: CanonicalRecordValidator.Failure.self) { try CanonicalRecordReader.parse(Array(input.utf8)) }
    }

    @Test("invalid UTF-8 inside a string is rejected")
    func invalidUTF8() {
        let bytes: [UInt8] = Array("{\"a\":\"".utf8) + [0xC3, 0x28] + Array("\"}".utf8)
        #expect(throws: CanonicalRecordValidator.Failure.self) { try CanonicalRecordReader.parse(bytes) }
    }

    @Test("a receipt omits absent fields and refuses long strings and bad extension names")
    func receiptEncoding() throws {
        let receipt = Receipt(kind: .egress, time: 5, sandbox: "s", egress: .init(host: "example.com", port: 443))
        let members = try receipt.members(origin: "o", defaultTime: 0)
        let json = String(decoding: CanonicalJSON.encode(members + [("index", .integer(3))]), as: UTF8.self)
        #expect(json == "{\"host\":\"example.com\",\"index\":3,\"kind\":\"egress\",\"origin\":\"o\",\"port\":443,\"sandbox\":\"s\",\"time\":5,\"v\":1}")

        let long = Receipt(kind: .request, reason: String(repeating: "x", count: Receipt.maxStringBytes + 1))
        #expect(throws: ReceiptLogError.self) { try long.members(origin: "o", defaultTime: 0) }
        for name in ["index", "Upper", "9lead", "with-dash", "", String(repeating: "a", count: 65)] {
            let bad = Receipt(kind: .admin, extensions: [name: .bool(true)])
            #expect(throws: ReceiptLogError.self, "accepted extension name '\(name)'") {
                try bad.members(origin: "o", defaultTime: 0)
            }
        }
    }
}
