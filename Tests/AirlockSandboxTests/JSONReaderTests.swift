import AirlockSandbox
import Foundation
import Testing

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
            let parsed = try JSONReader.parse(Array(JSONValue.quoted(text).utf8))
            #expect(parsed.kind == .string(text))
        }
    }

    static let badPolicies: [(json: String, expected: String)] = [
        (#"{"limits": {"proceses": 10}}"#, "at limits.proceses (line 1, column 13): unknown key 'proceses'; expected one of: openFiles"),
        (#"{"uid": "1000"}"#, "at uid (line 1, column 9): expected an unsigned integer of 32 bits, found a string"),
        (#"{"uid": -1}"#, "at uid (line 1, column 9): -1 is out of range for an unsigned integer of 32 bits"),
        (#"{"uid": 1.5}"#, "at uid (line 1, column 9): expected an unsigned integer of 32 bits, found 1.5"),
        (#"{"routerPorts": [8443, 70000]}"#, "at routerPorts[1] (line 1, column 24): 70000 is out of range"),
        (#"{"landlock": "sometimes"}"#, "at landlock (line 1, column 14): 'sometimes' is not a Landlock mode"),
        (#"{"environment": {"A": 1}}"#, "at environment.A (line 1, column 23): expected a string, found a number"),
        (#"{"readonlyPaths": "/"}"#, "at readonlyPaths (line 1, column 19): expected an array, found a string"),
        (#"[]"#, "at top level (line 1, column 1): expected an object, found an array"),
    ]

    @Test(arguments: badPolicies)
    func badPolicyValuesNameTheirPath(json: String, expected: String) {
        do {
            _ = try SandboxPolicy.decode(Array(json.utf8))
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.description.hasPrefix(expected), "\(error)")
        }
    }

    @Test func policyNullsMeanWhatTheyMeantBefore() throws {
        let policy = try SandboxPolicy.decode(Array(#"{"uid": null, "seccompProfile": null, "limits": {"processes": null}}"#.utf8))
        #expect(policy.uid == SandboxPolicy.workerIDs.lowerBound)
        #expect(policy.seccompProfile == nil)
        #expect(policy.limits.processes == nil)
        #expect(policy.limits.openFiles == 1024)
        let defaults = try SandboxPolicy.decode(Array("{}".utf8))
        #expect(defaults == SandboxPolicy())
    }

    @Test func profileErrorsCarryThePath() {
        let json = #"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "op": "SCMP_CMP_EQ"}]}]}"#
        do {
            _ = try OCISeccompProfile.decode(Array(json.utf8))
            Issue.record("accepted a comparison without a value")
        } catch {
            #expect(error.code == .invalidJSON)
            #expect(error.message.hasPrefix("at syscalls[0].args[0].value (line 1, column 107): required key is missing"), "\(error)")
        }
    }
}
