import AirlockJSON
import Testing

@Suite("JSON scanner")
struct JSONScannerTests {
    @Test("accepts valid JSON", arguments: [
        #"{}"#, #"[]"#, #"{"a":1}"#, #" { "a" : [1, 2.5e-3, -0, true, false, null, "x\n\u00e9\ud83d\ude00"] } "#,
        #""plain""#, "123", #"{"k":{"n":{"m":[{}]}}}"#, "{\"é\":\"日本\"}",
    ])
    func valid(_ text: String) throws {
        _ = try JSONScanner(Array(text.utf8)).validateDocument()
    }

    @Test("rejects invalid JSON", arguments: [
        "", "{", "}", #"{"a"}"#, #"{"a":}"#, #"{"a":1,}"#, "[1,]", "01", "1.", ".5", "-", "1e", "+1", "tru", "nul",
        #"{"a":1}x"#, #"{'a':1}"#, "\"\u{01}\"", #""\x""#, #""\u12""#, "{\"a\":1}{\"b\":2}", "[1 2]", "NaN",
    ])
    func invalid(_ text: String) {
        #expect(throws: JSONSyntaxError.self) { try JSONScanner(Array(text.utf8)).validateDocument() }
    }

    @Test("rejects invalid UTF-8: overlong, surrogate, truncated, out of range", arguments: [
        [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xE2, 0x82, 0x22], [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],
        [0x22, 0xFF, 0x22],
    ] as [[UInt8]])
    func invalidUTF8(_ bytes: [UInt8]) {
        #expect(throws: JSONSyntaxError.self) { try JSONScanner(bytes).validateDocument() }
    }

    @Test("rejects nesting deeper than the limit")
    func depth() {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONSyntaxError.self) { try JSONScanner(Array(deep.utf8)).validateDocument() }
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { try JSONScanner(Array(ok.utf8)).validateDocument() }
    }

    @Test("lookups find values by key path, unescaping keys")
    func lookups() throws {
        let s = JSONScanner(Array(#"{"usage":{"prompt_tokens":12,"completion_tokens":30},"m\u006fdel":"gpt","n":-4,"f":1.5}"#.utf8))
        let root = try s.validateDocument()
        #expect(s.value(at: ["usage", "prompt_tokens"], in: root).flatMap(s.integer) == 12)
        #expect(s.value(at: ["usage", "completion_tokens"], in: root).flatMap(s.integer) == 30)
        #expect(s.value(of: root, key: "model").flatMap(s.string) == "gpt")
        #expect(s.value(of: root, key: "n").flatMap(s.integer) == -4)
        #expect(s.value(of: root, key: "f").flatMap(s.integer) == nil)
        #expect(s.value(of: root, key: "missing") == nil)
    }

    @Test("refuses what readers would read differently, naming the byte", arguments: [
        (#"{"a":1,"a":2}"#, 7, "duplicate key 'a'"),
        (#"{"o":{"k":true,"k":false}}"#, 15, "duplicate key 'k'"),
        (#"[{"x":[{"n":1,"\u006e":2}]}]"#, 14, "duplicate key 'n'"),
        (#"{"a\ud800":1}"#, 3, "must be followed by a low surrogate"),
        (#"{"a":"\udc00"}"#, 6, "a lone low surrogate"),
        (#"["\ud800\u0041"]"#, 2, "not a low surrogate"),
        (#"["\ud800\ud800\udc00"]"#, 2, "not a low surrogate"),
        (#"{"a":01}"#, 5, "leading zeros"),
        (#"{"a":1} x"#, 8, "after the end of the JSON value"),
        (#"["open"#, 1, "not closed"),
        (#"{"model":"m\"#, 9, "not closed"),
        ("\"\\", 0, "not closed"),
    ])
    func refusals(text: String, offset: Int, message: String) {
        do {
            _ = try JSONScanner(Array(text.utf8)).validateDocument()
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.offset == offset, "\(error)")
            #expect(error.message.contains(message), "\(error)")
        }
    }

    @Test("a duplicate is found among many names, and carries its name")
    func manyNames() {
        let names = (0..<1000).map { "\"k\($0)\":0" } + ["\"k\\u0035\":1"]
        let text = "{" + names.joined(separator: ",") + "}"
        #expect(throws: JSONSyntaxError.self) { try JSONScanner(Array(text.utf8)).validateDocument() }
        do {
            _ = try JSONScanner(Array(text.utf8)).validateDocument()
        } catch {
            #expect(error.duplicateName == "k5")
        }
    }

    @Test("numbers longer than the limit are refused")
    func longNumbers() {
        let long = String(repeating: "1", count: JSONScanner.maxNumberLength + 1)
        #expect(throws: JSONSyntaxError.self) { try JSONScanner(Array(long.utf8)).validateDocument() }
        let fine = String(repeating: "1", count: JSONScanner.maxNumberLength)
        #expect(throws: Never.self) { try JSONScanner(Array(fine.utf8)).validateDocument() }
    }

    @Test("strings decode escapes and surrogate pairs")
    func decoding() throws {
        let s = JSONScanner(Array(#"["a\"b\\c\/d\u00e9\ud83d\ude00\n\b\f\r\t", "é😀"]"#.utf8))
        let root = try s.validateDocument()
        #expect(s.elements(of: root).map { s.string($0) } == ["a\"b\\c/d\u{e9}\u{1F600}\n\u{8}\u{c}\r\t", "é😀"])
    }
}
