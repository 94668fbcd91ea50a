import AirlockPolicy
import Foundation
import Testing

enum SampleListenerKind: String, ConfigEnum {
    case unix
    case tcp
}

struct SampleConfig: Decodable, Equatable {
    var router: SampleRouter
    var models: [String: SampleModel]
    var logLevel: String?

    enum CodingKeys: String, CodingKey {
        case router, models
        case logLevel = "log_level"
    }
}

struct SampleRouter: Decodable, Equatable {
    var listeners: [SampleListener]
    var upstreams: [String]
    var timeout: ConfigDuration
    var maxConnections: Int?
    var retries: UInt8?

    enum CodingKeys: String, CodingKey {
        case listeners, upstreams, timeout, retries
        case maxConnections = "max_connections"
    }
}

struct SampleListener: Decodable, Equatable {
    var path: String
    var kind: SampleListenerKind
    var mode: ConfigFileMode?
}

struct SampleModel: Decodable, Equatable {
    var provider: String
    var enabled: Bool
    var weight: Double?
    var timeout: ConfigDuration?
}

/// A bad input and exactly where and how it must be reported.
struct StrictDecoderBadInput: Sendable, CustomTestStringConvertible {
    let name: String
    let yaml: String
    let code: ConfigError.Code
    let path: String
    let line: Int
    let column: Int

    init(_ name: String, _ yaml: String, _ code: ConfigError.Code, path: String, at line: Int, _ column: Int) {
        self.name = name
        self.yaml = yaml
        self.code = code
        self.path = path
        self.line = line
        self.column = column
    }

    var testDescription: String { name }
}

/// A minimal valid sample, for cases that change one thing in it.
let strictDecoderMinimalSample = """
    router:
      listeners:
        - path: /run/a.sock
          kind: unix
      upstreams: [a]
      timeout: 1s
    models: {}
    """

/// Decodes `input` and checks the error's code, path, line, column and file; returns it for further checks.
@discardableResult
func expectStrictDecoderError<T: Decodable>(
    _ type: T.Type,
    _ input: StrictDecoderBadInput,
    sourceLocation: SourceLocation = #_sourceLocation
) -> ConfigError? {
    do {
        let value = try StrictYAMLDecoder().decode(type, from: input.yaml, file: "policies/airlock.yaml")
        Issue.record("decoded \(value) instead of failing", sourceLocation: sourceLocation)
        return nil
    } catch let error as ConfigError {
        #expect(error.code == input.code, "\(error)", sourceLocation: sourceLocation)
        #expect(error.path.description == input.path, "\(error)", sourceLocation: sourceLocation)
        #expect(error.line == input.line, "\(error)", sourceLocation: sourceLocation)
        #expect(error.column == input.column, "\(error)", sourceLocation: sourceLocation)
        #expect(error.file == "policies/airlock.yaml", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("threw \(error), not a ConfigError", sourceLocation: sourceLocation)
        return nil
    }
}

@Suite struct StrictDecoderSampleTests {
    @Test func decodesFullSample() throws {
        let yaml = """
            router:
              listeners:
                - path: /run/airlock.sock
                  kind: unix
                  mode: "0660"
                - path: 127.0.0.1:8080
                  kind: tcp
              upstreams: [a, "b"]
              timeout: 250ms
              max_connections: 64
              retries: 255
            models:
              gpt-4o:
                provider: openai
                enabled: true
                weight: 0.5
              local:
                provider: ollama
                enabled: false
                weight: 2
                timeout: 1h30m
            log_level: debug
            """
        let config = try StrictYAMLDecoder().decode(SampleConfig.self, from: yaml, file: "sample.yaml")
        let expected = SampleConfig(
            router: SampleRouter(
                listeners: [
                    SampleListener(path: "/run/airlock.sock", kind: .unix, mode: ConfigFileMode(rawValue: 0o660)),
                    SampleListener(path: "127.0.0.1:8080", kind: .tcp, mode: nil),
                ],
                upstreams: ["a", "b"],
                timeout: try ConfigDuration(parsing: "250ms"),
                maxConnections: 64,
                retries: 255
            ),
            models: [
                "gpt-4o": SampleModel(provider: "openai", enabled: true, weight: 0.5, timeout: nil),
                "local": SampleModel(
                    provider: "ollama",
                    enabled: false,
                    weight: 2,
                    timeout: ConfigDuration(nanoseconds: 5_400_000_000_000)
                ),
            ],
            logLevel: "debug"
        )
        #expect(config == expected)
    }

    @Test func decodesMinimalSampleWithOptionalsAbsent() throws {
        let config = try StrictYAMLDecoder().decode(
            SampleConfig.self, from: strictDecoderMinimalSample, file: "sample.yaml")
        #expect(config.router.maxConnections == nil)
        #expect(config.router.listeners.first?.mode == nil)
        #expect(config.models.isEmpty)
        #expect(config.logLevel == nil)
    }

    @Test func explicitNullLeavesAnOptionalUnset() throws {
        let yaml = strictDecoderMinimalSample + "\nlog_level: null"
        let config = try StrictYAMLDecoder().decode(SampleConfig.self, from: yaml, file: "sample.yaml")
        #expect(config.logLevel == nil)
    }

    @Test(arguments: [
        ("name: 'no'", "no"),
        ("name: \"null\"", "null"),
        ("name: 8080", "8080"),
        ("name: 1.5", "1.5"),
        ("name: 2024-01-02", "2024-01-02"),
        ("name: |\n  two\n  lines", "two\nlines"),
        ("name: !!str yes", "yes"),
        ("name: plain text", "plain text"),
    ])
    func stringFieldsTakeTextThatIsNotABooleanOrNull(yaml: String, expected: String) throws {
        struct Named: Decodable { var name: String }
        let named = try StrictYAMLDecoder().decode(Named.self, from: yaml, file: "sample.yaml")
        #expect(named.name == expected)
    }

    @Test func scalarsOfEveryWidthDecode() throws {
        struct Numbers: Decodable, Equatable {
            var small: Int8
            var unsigned: UInt16
            var wide: Int64
            var negative: Int
            var ratio: Double
            var single: Float
            var whole: Double
            var flags: [Bool]
        }
        let yaml = """
            small: -128
            unsigned: 65535
            wide: 9223372036854775807
            negative: -42
            ratio: 1.5e3
            single: 0.25
            whole: 7
            flags: [true, false]
            """
        let numbers = try StrictYAMLDecoder().decode(Numbers.self, from: yaml, file: "sample.yaml")
        #expect(
            numbers
                == Numbers(
                    small: -128,
                    unsigned: 65535,
                    wide: .max,
                    negative: -42,
                    ratio: 1500,
                    single: 0.25,
                    whole: 7,
                    flags: [true, false]
                )
        )
    }

    @Test func topLevelDictionaryAndArrayDecode() throws {
        let dictionary = try StrictYAMLDecoder().decode([String: Int].self, from: "a: 1\nb-c: 2", file: "x.yaml")
        #expect(dictionary == ["a": 1, "b-c": 2])
        let list = try StrictYAMLDecoder().decode([[String]].self, from: "- [a, b]\n- []", file: "x.yaml")
        #expect(list == [["a", "b"], []])
        let optionals = try StrictYAMLDecoder().decode([Int?].self, from: "[1, null, ~]", file: "x.yaml")
        #expect(optionals == [1, nil, nil])
    }

    @Test func decodesFromAFilePath() throws {
        let path = "/tmp/airlock-strict-decoder-\(UInt64.random(in: 0...UInt64.max)).yaml"
        try strictDecoderMinimalSample.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let config = try StrictYAMLDecoder().decode(SampleConfig.self, fromFileAt: path)
        #expect(config.router.upstreams == ["a"])
    }

    @Test func unreadableFileIsAConfigError() {
        #expect {
            try StrictYAMLDecoder().decode(SampleConfig.self, fromFileAt: "/nonexistent/airlock.yaml")
        } throws: { error in
            (error as? ConfigError)?.code == .unreadableFile
        }
    }
}
