import AirlockPolicy
import Foundation
import Testing

/// One optional field per kind, so each case writes a single line.
struct SampleTyped: Decodable {
    var count: Int?
    var small: UInt8?
    var flag: Bool?
    var name: String?
    var ratio: Double?
    var single: Float?
    var items: [Int]?
    var nested: Inner?

    struct Inner: Decodable {
        var x: Int?
    }
}

@Suite struct StrictDecoderTypeTests {
    static let cases: [StrictDecoderBadInput] = [
        StrictDecoderBadInput("string for int", "count: abc", .typeMismatch, path: "count", at: 1, 8),
        StrictDecoderBadInput("quoted int", "count: \"12\"", .typeMismatch, path: "count", at: 1, 8),
        StrictDecoderBadInput("float for int", "count: 1.5", .typeMismatch, path: "count", at: 1, 8),
        StrictDecoderBadInput("leading zero", "count: 0660", .typeMismatch, path: "count", at: 1, 8),
        StrictDecoderBadInput("hex", "count: 0x1F", .typeMismatch, path: "count", at: 1, 8),
        StrictDecoderBadInput("underscores", "count: 1_000", .typeMismatch, path: "count", at: 1, 8),
        StrictDecoderBadInput("bool for int", "count: true", .typeMismatch, path: "count", at: 1, 8),
        StrictDecoderBadInput("list for int", "count: [1]", .typeMismatch, path: "count", at: 1, 8),
        StrictDecoderBadInput("mapping for int", "count:\n  a: 1", .typeMismatch, path: "count", at: 2, 3),
        StrictDecoderBadInput("beyond Int64", "count: 99999999999999999999", .outOfRange, path: "count", at: 1, 8),
        StrictDecoderBadInput("above UInt8", "small: 256", .outOfRange, path: "small", at: 1, 8),
        StrictDecoderBadInput("negative UInt8", "small: -1", .outOfRange, path: "small", at: 1, 8),
        StrictDecoderBadInput("yes for bool", "flag: yes", .typeMismatch, path: "flag", at: 1, 7),
        StrictDecoderBadInput("capitalised bool", "flag: True", .typeMismatch, path: "flag", at: 1, 7),
        StrictDecoderBadInput("quoted bool", "flag: \"true\"", .typeMismatch, path: "flag", at: 1, 7),
        StrictDecoderBadInput("int for bool", "flag: 1", .typeMismatch, path: "flag", at: 1, 7),
        StrictDecoderBadInput("no for string", "name: no", .typeMismatch, path: "name", at: 1, 7),
        StrictDecoderBadInput("off for string", "name: off", .typeMismatch, path: "name", at: 1, 7),
        StrictDecoderBadInput("mapping for string", "name: {a: 1}", .typeMismatch, path: "name", at: 1, 7),
        StrictDecoderBadInput("list for string", "name: [a]", .typeMismatch, path: "name", at: 1, 7),
        StrictDecoderBadInput("string for double", "ratio: abc", .typeMismatch, path: "ratio", at: 1, 8),
        StrictDecoderBadInput("quoted double", "ratio: \"1.5\"", .typeMismatch, path: "ratio", at: 1, 8),
        StrictDecoderBadInput("infinity", "ratio: .inf", .typeMismatch, path: "ratio", at: 1, 8),
        StrictDecoderBadInput("double overflow", "ratio: 1e999", .outOfRange, path: "ratio", at: 1, 8),
        StrictDecoderBadInput("float overflow", "single: 1e39", .outOfRange, path: "single", at: 1, 9),
        StrictDecoderBadInput("scalar for list", "items: 5", .typeMismatch, path: "items", at: 1, 8),
        StrictDecoderBadInput("bad list element", "items: [1, x]", .typeMismatch, path: "items[1]", at: 1, 12),
        StrictDecoderBadInput("scalar for struct", "nested: 5", .typeMismatch, path: "nested", at: 1, 9),
        StrictDecoderBadInput("bad nested field", "nested: {x: y}", .typeMismatch, path: "nested.x", at: 1, 13),
    ]

    @Test(arguments: cases)
    func rejectsWrongTypes(_ input: StrictDecoderBadInput) {
        expectStrictDecoderError(SampleTyped.self, input)
    }

    @Test(
        arguments: [
            ("count: abc", #"expected an integer, got string "abc""#, nil),
            ("count: \"12\"", #"expected an integer, got string "12""#, "Remove the quotes."),
            ("count: 1.5", "expected an integer, got float 1.5", "Write a whole number."),
            (
                "count: 0660", "expected an integer, got integer 0660",
                "Remove the leading zeros; YAML 1.1 reads 0660 as an octal number."
            ),
            ("small: 256", "integer 256 is out of range for this setting", "Use a value from 0 to 255."),
            ("flag: yes", "expected true or false, got boolean yes", "Write true or false, in lowercase."),
            ("name: no", "expected a string, got boolean no", #"If you mean the text, quote it: "no"."#),
            ("name: [a]", "expected a string, got a list", nil),
            ("items: 5", "expected a list, got integer 5", "Write the items as `- item` lines or as `[a, b]`."),
            ("nested: 5", "expected a mapping of keys to values, got integer 5", nil),
        ] as [(String, String, String?)])
    func namesBothSides(yaml: String, message: String, hint: String?) throws {
        let error = try #require(throws: ConfigError.self) {
            try StrictYAMLDecoder().decode(SampleTyped.self, from: yaml, file: "x.yaml")
        }
        #expect(error.message == message)
        #expect(error.hint == hint)
    }

    static let nullCases: [StrictDecoderBadInput] = [
        StrictDecoderBadInput(
            "empty required string",
            strictDecoderMinimalSample.replacingOccurrences(of: "path: /run/a.sock", with: "path:"),
            .nullValue,
            path: "router.listeners[0].path",
            at: 3,
            12
        ),
        StrictDecoderBadInput(
            "null required duration",
            strictDecoderMinimalSample.replacingOccurrences(of: "timeout: 1s", with: "timeout: null"),
            .nullValue,
            path: "router.timeout",
            at: 6,
            12
        ),
        StrictDecoderBadInput(
            "tilde for a struct",
            "router: ~\nmodels: {}",
            .nullValue,
            path: "router",
            at: 1,
            9
        ),
        StrictDecoderBadInput(
            "null in a list of strings",
            strictDecoderMinimalSample.replacingOccurrences(of: "upstreams: [a]", with: "upstreams: [a, null]"),
            .nullValue,
            path: "router.upstreams[1]",
            at: 5,
            18
        ),
    ]

    @Test(arguments: nullCases)
    func rejectsNullForNonOptionals(_ input: StrictDecoderBadInput) {
        expectStrictDecoderError(SampleConfig.self, input)
    }

    static let missingCases: [StrictDecoderBadInput] = [
        StrictDecoderBadInput(
            "nested required key",
            strictDecoderMinimalSample.replacingOccurrences(of: "  upstreams: [a]\n", with: ""),
            .missingKey,
            path: "router",
            at: 2,
            3
        ),
        StrictDecoderBadInput(
            "top-level required key",
            strictDecoderMinimalSample.replacingOccurrences(of: "models: {}", with: ""),
            .missingKey,
            path: "",
            at: 1,
            1
        ),
        StrictDecoderBadInput(
            "required key in a dictionary value",
            strictDecoderMinimalSample.replacingOccurrences(of: "models: {}", with: "models:\n  local: {provider: x}"),
            .missingKey,
            path: #"models["local"]"#,
            at: 8,
            10
        ),
    ]

    @Test(arguments: missingCases)
    func rejectsMissingRequiredKeys(_ input: StrictDecoderBadInput) {
        expectStrictDecoderError(SampleConfig.self, input)
    }

    @Test func missingKeyMessageNamesTheKeyAndItsMapping() throws {
        let error = try #require(expectStrictDecoderError(SampleConfig.self, Self.missingCases[0]))
        #expect(error.message == "missing required key `upstreams` in `router`")
        let topLevel = try #require(expectStrictDecoderError(SampleConfig.self, Self.missingCases[1]))
        #expect(topLevel.message == "missing required key `models` at the top level")
    }
}
