import AirlockPolicy
import Foundation
import Testing

/// The sample with rules a decoder cannot know, as the real config types will have.
struct SampleValidatedConfig: Decodable, ConfigValidating {
    var router: SampleRouter
    var models: [String: SampleModel]

    func validate(at path: ConfigPath, in source: ConfigSourceMap) throws {
        for (index, listener) in router.listeners.enumerated() where listener.kind == .unix && listener.mode == nil {
            throw source.error(
                at: path.key("router").key("listeners").index(index),
                "a unix listener needs a mode",
                hint: "Add `mode: \"0660\"`."
            )
        }
        for (name, model) in models.sorted(by: { $0.key < $1.key }) where (model.weight ?? 0) < 0 {
            throw source.error(
                at: path.key("models").entry(name).key("weight"),
                "weight must not be negative",
                hint: "Use 0 to disable the model."
            )
        }
    }
}

/// A type whose own `init(from:)` throws, both ways a type can.
struct SamplePort: Decodable {
    var number: Int

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        number = try container.decode(Int.self)
        if number == 0 {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "port 0 is not a port")
        }
        if number > 65535 {
            throw ConfigError(.outOfRange, "port \(number) is above 65535", hint: "Use a port from 1 to 65535.")
        }
    }
}

struct SamplePorts: Decodable {
    var ports: [String: SamplePort]
}

@Suite struct StrictDecoderValidationTests {
    @Test func validationErrorPointsAtTheListener() throws {
        let yaml = """
            router:
              listeners:
                - path: /run/a.sock
                  kind: unix
                  mode: "0600"
                - path: /run/b.sock
                  kind: unix
              upstreams: [a]
              timeout: 1s
            models: {}
            """
        let error = try #require(throws: ConfigError.self) {
            try StrictYAMLDecoder().decode(SampleValidatedConfig.self, from: yaml, file: "policies/airlock.yaml")
        }
        #expect(error.code == .validation)
        #expect(error.path.description == "router.listeners[1]")
        #expect(error.line == 6 && error.column == 7)
        #expect(
            error.description
                == "policies/airlock.yaml:6:7: router.listeners[1]: a unix listener needs a mode. Add `mode: \"0660\"`."
        )
    }

    @Test func validationErrorPointsIntoADictionary() throws {
        let yaml = """
            router: {listeners: [], upstreams: [a], timeout: 1s}
            models:
              gpt-4o: {provider: openai, enabled: true, weight: -1}
            """
        let error = try #require(throws: ConfigError.self) {
            try StrictYAMLDecoder().decode(SampleValidatedConfig.self, from: yaml, file: "p.yaml")
        }
        #expect(error.path.description == #"models["gpt-4o"].weight"#)
        #expect(error.line == 3 && error.column == 53)
    }

    @Test func documentKeepsLocationsForLaterChecks() throws {
        let document = try StrictYAMLDecoder().decodeDocument(
            SampleConfig.self, from: strictDecoderMinimalSample, file: "p.yaml")
        #expect(document.value.router.upstreams == ["a"])
        let path: ConfigPath = ["router", "upstreams", 0]
        let error = document.error(at: path, "upstream `a` is not defined", hint: "Define it under `upstreams`.")
        #expect(
            error.description
                == "p.yaml:5:15: router.upstreams[0]: upstream `a` is not defined. Define it under `upstreams`.")
        #expect(document.sourceMap.keyLocation(of: ["router", "timeout"]) == ConfigLocation(line: 6, column: 3))
    }

    @Test func absentValueFallsBackToItsNearestAncestor() throws {
        let document = try StrictYAMLDecoder().decodeDocument(
            SampleConfig.self, from: strictDecoderMinimalSample, file: "p.yaml")
        let error = document.error(at: ConfigPath.root.key("router").key("retries"), "needs retries")
        #expect(error.line == 2 && error.column == 3)
        #expect(error.path.description == "router.retries")
    }

    @Test(
        arguments: [
            ("ports: {http: 0}", ConfigError.Code.invalidValue, "ports.http", 1, 15),
            ("ports:\n  web: 70000", .outOfRange, #"ports["web"]"#, 2, 8),
        ] as [(String, ConfigError.Code, String, Int, Int)])
    func errorsThrownByATypeArePlaced(yaml: String, code: ConfigError.Code, path: String, line: Int, column: Int) {
        expectStrictDecoderError(
            SamplePorts.self, StrictDecoderBadInput(path, yaml, code, path: path, at: line, column))
    }
}
