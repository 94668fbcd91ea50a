import AirlockPolicy
import Foundation
import Testing

@Suite struct StrictDecoderUnknownKeyTests {
    static let cases: [StrictDecoderBadInput] = [
        StrictDecoderBadInput(
            "top level",
            strictDecoderMinimalSample + "\nlog_levle: debug",
            .unknownKey,
            path: "log_levle",
            at: 8,
            1
        ),
        StrictDecoderBadInput(
            "nested mapping",
            """
            router:
              listeners:
                - path: /run/a.sock
                  kind: unix
              upstreams: [a]
              timeout: 1s
              retires: 3
            models: {}
            """,
            .unknownKey,
            path: "router.retires",
            at: 7,
            3
        ),
        StrictDecoderBadInput(
            "inside an array element",
            """
            router:
              listeners:
                - path: /run/a.sock
                  kind: unix
                  mdoe: "0660"
              upstreams: [a]
              timeout: 1s
            models: {}
            """,
            .unknownKey,
            path: "router.listeners[0].mdoe",
            at: 5,
            7
        ),
        StrictDecoderBadInput(
            "inside a dictionary value",
            """
            router:
              listeners: []
              upstreams: [a]
              timeout: 1s
            models:
              gpt-4o:
                provider: openai
                enabled: true
                wieght: 1
            """,
            .unknownKey,
            path: #"models["gpt-4o"].wieght"#,
            at: 9,
            5
        ),
        StrictDecoderBadInput(
            "misspelt required key",
            """
            router:
              listeners: []
              upstream: [a]
              timeout: 1s
            models: {}
            """,
            .missingKey,
            path: "router.upstream",
            at: 3,
            3
        ),
        StrictDecoderBadInput(
            "key with no near match",
            strictDecoderMinimalSample + "\ncolour: red",
            .unknownKey,
            path: "colour",
            at: 8,
            1
        ),
        StrictDecoderBadInput(
            "first unknown key in file order",
            """
            router:
              listeners: []
              upstreams: [a]
              timeout: 1s
              zzz: 1
            aaa: 2
            models: {}
            """,
            .unknownKey,
            path: "router.zzz",
            at: 5,
            3
        ),
    ]

    @Test(arguments: cases)
    func rejectsUnknownKeys(_ input: StrictDecoderBadInput) {
        expectStrictDecoderError(SampleConfig.self, input)
    }

    @Test func suggestsTheClosestKnownKey() throws {
        let error = try #require(expectStrictDecoderError(SampleConfig.self, Self.cases[0]))
        #expect(error.hint == "Did you mean `log_level`?")
        #expect(error.message == "unknown key `log_levle` at the top level")
    }

    @Test func suggestsAcrossCaseAndSeparators() throws {
        let input = StrictDecoderBadInput(
            "camel case",
            strictDecoderMinimalSample.replacingOccurrences(
                of: "timeout: 1s", with: "timeout: 1s\n  maxConnections: 3"),
            .unknownKey,
            path: "router.maxConnections",
            at: 7,
            3
        )
        let error = try #require(expectStrictDecoderError(SampleConfig.self, input))
        #expect(error.hint == "Did you mean `max_connections`?")
    }

    @Test func listsKnownKeysWhenNothingIsClose() throws {
        let error = try #require(expectStrictDecoderError(SampleConfig.self, Self.cases[5]))
        #expect(error.hint == "Remove it, or use one of: log_level, models, router.")
    }

    @Test func misspeltRequiredKeyNamesBoth() throws {
        let error = try #require(expectStrictDecoderError(SampleConfig.self, Self.cases[4]))
        #expect(error.message == "missing required key `upstreams` in `router`")
        #expect(error.hint == "Did you mean `upstreams` instead of `upstream`?")
    }

    @Test func dictionaryKeysAreFreeForm() throws {
        let yaml = strictDecoderMinimalSample.replacingOccurrences(
            of: "models: {}",
            with: "models:\n  \"any name: at all\": {provider: x, enabled: true}"
        )
        let config = try StrictYAMLDecoder().decode(SampleConfig.self, from: yaml, file: "x.yaml")
        #expect(config.models.keys.sorted() == ["any name: at all"])
    }
}
