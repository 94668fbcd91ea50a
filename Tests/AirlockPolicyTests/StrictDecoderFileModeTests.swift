import AirlockPolicy
import Testing

struct SampleSocket: Decodable {
    var mode: ConfigFileMode
}

@Suite struct StrictDecoderFileModeTests {
    @Test(
        arguments: [
            ("\"0660\"", 0o660),
            ("'0755'", 0o755),
            ("\"640\"", 0o640),
            ("\"04755\"", 0o4755),
            ("\"7777\"", 0o7777),
            ("\"0000\"", 0),
        ] as [(String, UInt16)])
    func parsesQuotedOctal(text: String, bits: UInt16) throws {
        let socket = try StrictYAMLDecoder().decode(SampleSocket.self, from: "mode: \(text)", file: "x.yaml")
        #expect(socket.mode.rawValue == bits)
    }

    @Test(arguments: [
        ("660", ConfigError.Code.typeMismatch),
        ("0660", .typeMismatch),
        ("rw", .invalidValue),
        ("\"0698\"", .invalidValue),
        ("\"rw-\"", .invalidValue),
        ("\"66\"", .invalidValue),
        ("\"010000\"", .invalidValue),
        ("\"17777\"", .outOfRange),
        ("\"\"", .invalidValue),
        ("null", .nullValue),
    ])
    func rejects(text: String, code: ConfigError.Code) {
        expectStrictDecoderError(
            SampleSocket.self, StrictDecoderBadInput(text, "mode: \(text)", code, path: "mode", at: 1, 7))
    }

    @Test func unquotedModeReadsLikeADiagnostic() throws {
        let yaml = """
            router:
              listeners:
                - {path: /run/a.sock, kind: unix, mode: "0660"}
                - path: /run/b.sock
                  kind: unix
                  mode: 660
              upstreams: [a]
              timeout: 1s
            models: {}
            """
        let error = try #require(throws: ConfigError.self) {
            try StrictYAMLDecoder().decode(SampleConfig.self, from: yaml, file: "policies/airlock.yaml")
        }
        #expect(
            error.description
                == #"policies/airlock.yaml:6:13: router.listeners[1].mode: expected an octal mode string like "0660", got integer 660. Quote the mode."#
        )
        #expect(error.code == .typeMismatch)
    }

    @Test func printsFourDigits() throws {
        #expect(ConfigFileMode(rawValue: 0o640)?.description == "0640")
        #expect(ConfigFileMode(rawValue: 0o10000) == nil)
    }
}
