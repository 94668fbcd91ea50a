import AirlockJSON
import Testing

@Suite("JSON reader (value tree)")
struct JSONReaderTests {
    static let syntaxErrors: [(json: String, line: Int, column: Int, message: String)] = [
        ("", 1, 1, "the document is empty"),
        ("   \n  ", 2, 3, "the document is empty"),
        ("{\"a\": 1,}", 1, 9, "expected a key in double quotes"),
        ("[1, 2,]", 1, 7, "expected a value"),
        ("{\"a\" 1}", 1, 6, "expected ':' after the key 'a'"),
        ("{\"a\": 1\n \"b\": 2}", 2, 2, "expected ',' or '}'"),
        ("{\"a\": 1, \"a\": 2}", 1, 10, "duplicate key 'a'"),
        ("{\"a\": tru}", 1, 7, "true, false and null are lower case"),
        ("{\"a\": True}", 1, 7, "unexpected 'T'"),
        ("{\"a\": 01}", 1, 7, "leading zeros"),
        ("{\"a\": 1.}", 1, 9, "digits after '.'"),
        ("{\"a\": -}", 1, 8, "digits after '-'"),
        ("{\"a\": 1e}", 1, 9, "digits in its exponent"),
        ("{\"a\": \"x\ny\"}", 1, 9, "control character 0xa in a string"),
        ("{\"a\": \"\\q\"}", 1, 8, "unknown escape '\\q'"),
        ("{\"a\": \"\\ud800\"}", 1, 8, "must be followed by a low surrogate"),
        ("{\"a\": \"\\udc00\"}", 1, 8, "a lone low surrogate"),
        ("{\"a\": \"\\u12\"}", 1, 8, "\\u needs four hex digits"),
        ("{\"a\": \"open", 1, 7, "the string starting here is not closed"),
        ("{\"a\": 1} {}", 1, 10, "after the end of the JSON value"),
        ("// comment\n{}", 1, 1, "unexpected '/'"),
        ("{\"a\": 1", 1, 8, "unexpected end of file; expected ',' or '}'"),
    ]

    @Test(arguments: syntaxErrors)
    func syntaxErrorsNameTheirPlace(json: String, line: Int, column: Int, message: String) {
        do {
            _ = try JSONReader.parse(Array(json.utf8))
            Issue.record("accepted \(json.debugDescription)")
        } catch {
            #expect(error.line == line && error.column == column, "\(error) for \(json.debugDescription)")
            #expect(error.message.contains(message), "\(error)")
            #expect(error.path == nil)
        }
    }

    @Test func invalidUTF8IsRefused() {
        #expect(throws: JSONError.self) { try JSONReader.parse([0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test func nestingIsBounded() {
        let deep = String(repeating: "[", count: JSONReader.maxDepth + 1) + String(repeating: "]", count: JSONReader.maxDepth + 1)
        #expect(throws: JSONError.self) { try JSONReader.parse(Array(deep.utf8)) }
        let fine = String(repeating: "[", count: JSONReader.maxDepth) + String(repeating: "]", count: JSONReader.maxDepth)
        #expect(throws: Never.self) { try JSONReader.parse(Array(fine.utf8)) }
    }

    @Test func valuesAreReadExactly() throws {
        let json = #"{"s": "a\"b\\c\/d\u00e9\ud83d\ude00\n", "n": 18446744073709551615, "f": -1.5e3, "t": true, "z": null, "e": [], "o": {}}"#
        let value = try JSONReader.parse(Array("\u{FEFF}".utf8) + Array(json.utf8))
        guard case .object(let members) = value.kind else {
            Issue.record("not an object")
            return
        }
        #expect(members.map(\.key) == ["s", "n", "f", "t", "z", "e", "o"])
        #expect(members[0].value.kind == .string("a\"b\\c/d\u{e9}\u{1F600}\n"))
        #expect(members[1].value.kind == .number("18446744073709551615"))
        #expect(members[2].value.kind == .number("-1.5e3"))
        #expect(members[3].value.kind == .bool(true))
        #expect(members[4].value.kind == .null)
        #expect(members[5].value.kind == .array([]))
        #expect(members[5].value.line == 1 && members[5].value.column == 108)
    }

    @Test func quotingRoundTrips() throws {
        for text in ["plain", "quote\" backslash\\ tab\t newline\n bell\u{7}", "é😀", ""] {
            let parsed = try JSONReader.parse(Array(JSONText.quoted(text).utf8))
            #expect(parsed.kind == .string(text))
        }
    }

    @Test("errors carry the byte offset, and a skipped byte order mark counts in it")
    func offsets() {
        do {
            _ = try JSONReader.parse(Array("\u{FEFF}".utf8) + Array("{\"a\": 1,}".utf8))
            Issue.record("accepted a trailing comma")
        } catch {
            #expect(error.offset == 11 && error.line == 1 && error.column == 9, "\(error)")
        }
        #expect(throws: JSONError.self) {
            try JSONReader.parse(Array("\u{FEFF}{}".utf8), allowingByteOrderMark: false)
        }
    }

    @Test("members and values know their lines")
    func lines() throws {
        let value = try JSONReader.parse(Array("{\n  \"a\": [\n    1,\n    \"x\"\n  ]\n}".utf8))
        guard case .object(let members) = value.kind, case .array(let elements) = members[0].value.kind else {
            Issue.record("not an object of an array")
            return
        }
        #expect((members[0].line, members[0].column) == (2, 3))
        #expect(elements.map { [$0.line, $0.column] } == [[3, 5], [4, 5]])
    }
}
