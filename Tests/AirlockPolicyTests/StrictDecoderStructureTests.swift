import AirlockPolicy
import Foundation
import Testing

@Suite struct StrictDecoderStructureTests {
    static let cases: [StrictDecoderBadInput] = [
        StrictDecoderBadInput(
            "duplicate top-level key", strictDecoderMinimalSample + "\nrouter: {}", .duplicateKey, path: "router",
            at: 8, 1),
        StrictDecoderBadInput(
            "duplicate key in an array element",
            strictDecoderMinimalSample.replacingOccurrences(of: "kind: unix", with: "kind: unix\n      kind: tcp"),
            .duplicateKey,
            path: "router.listeners[0].kind",
            at: 5,
            7
        ),
        StrictDecoderBadInput(
            "duplicate key in a flow mapping",
            "models: {a: {provider: x, provider: y}}",
            .duplicateKey,
            path: "models.a.provider",
            at: 1,
            27
        ),
        StrictDecoderBadInput("anchor and alias", "a: &x 1\nb: *x", .anchorOrAlias, path: "a", at: 1, 4),
        StrictDecoderBadInput("anchor alone", "router: &r {}\nmodels: {}", .anchorOrAlias, path: "router", at: 1, 9),
        StrictDecoderBadInput("undefined alias", "a: *nope", .anchorOrAlias, path: "", at: 1, 4),
        StrictDecoderBadInput("merge key", "base: {x: 1}\nitem:\n  <<: {y: 2}", .mergeKey, path: "item", at: 3, 3),
        StrictDecoderBadInput(
            "merge key with alias", "base: &b {x: 1}\nitem:\n  <<: *b", .mergeKey, path: "item", at: 3, 3),
        StrictDecoderBadInput(
            "multiple documents", strictDecoderMinimalSample + "\n---\nrouter: {}", .multipleDocuments, path: "", at: 9,
            1),
        StrictDecoderBadInput("empty file", "", .emptyDocument, path: "", at: 1, 1),
        StrictDecoderBadInput("only comments", "# nothing here\n", .emptyDocument, path: "", at: 1, 1),
        StrictDecoderBadInput("empty document marker", "---\n", .emptyDocument, path: "", at: 2, 1),
        StrictDecoderBadInput("null document", "~", .emptyDocument, path: "", at: 1, 1),
        StrictDecoderBadInput("explicit tag", "router: !!float 5", .explicitTag, path: "router", at: 1, 9),
        StrictDecoderBadInput("custom tag", "router: !secret {}", .explicitTag, path: "router", at: 1, 9),
        StrictDecoderBadInput("unclosed flow list", "a: [1, 2", .invalidYAML, path: "", at: 1, 9),
        StrictDecoderBadInput("mapping in a plain value", "a: b: c", .invalidYAML, path: "", at: 1, 5),
        StrictDecoderBadInput("tab indentation", "router:\n\tlisteners: []", .invalidYAML, path: "", at: 2, 1),
    ]

    @Test(arguments: cases)
    func rejectsImplicitOrMalformedDocuments(_ input: StrictDecoderBadInput) {
        expectStrictDecoderError(SampleConfig.self, input)
    }

    @Test func duplicateKeyNamesTheFirstOccurrence() throws {
        let error = try #require(expectStrictDecoderError(SampleConfig.self, Self.cases[0]))
        #expect(error.message == "duplicate key `router` at the top level, first written at line 1, column 1")
    }

    @Test func explainsTagsAndTabs() throws {
        let tag = try #require(expectStrictDecoderError(SampleConfig.self, Self.cases[13]))
        #expect(tag.message == "explicit YAML tags are not allowed, got `!!float`")
        let tab = try #require(expectStrictDecoderError(SampleConfig.self, Self.cases[17]))
        #expect(tab.hint == "Indent with spaces; YAML does not allow tabs for indentation.")
    }

    @Test func typeWithoutFieldsStillRejectsKeys() {
        struct Marker: Decodable {}
        struct Flags: Decodable { var marker: Marker }
        expectStrictDecoderError(
            Flags.self,
            StrictDecoderBadInput("empty type", "marker: {on: true}", .unknownKey, path: "marker.on", at: 1, 10))
    }

    @Test func aKeyNamedLikeABooleanIsJustText() throws {
        struct Switches: Decodable { var on: Bool; var no: Int }
        let switches = try StrictYAMLDecoder().decode(Switches.self, from: "on: true\nno: 3", file: "x.yaml")
        #expect(switches.on && switches.no == 3)
    }
}
