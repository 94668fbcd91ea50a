import AirlockPolicy
import Testing

@Suite struct StrictDecoderJSONTests {
    @Test func decodesJSON() throws {
        let json = """
            {
              "router": {
                "listeners": [{"path": "/run/a.sock", "kind": "unix", "mode": "0660"}],
                "upstreams": ["a"],
                "timeout": "250ms",
                "max_connections": 64
              },
              "models": {"gpt-4o": {"provider": "openai", "enabled": true, "weight": 0.5}}
            }
            """
        let config = try StrictYAMLDecoder().decode(SampleConfig.self, from: json, file: "airlock.json")
        #expect(config.router.listeners.first?.mode?.rawValue == 0o660)
        #expect(config.router.timeout.nanoseconds == 250_000_000)
        #expect(config.router.maxConnections == 64)
        #expect(config.models["gpt-4o"]?.weight == 0.5)
    }

    static let cases: [StrictDecoderBadInput] = [
        StrictDecoderBadInput(
            "unknown key",
            #"{"router": {"listeners": [], "upstreams": [], "timeout": "1s", "retrys": 1}, "models": {}}"#,
            .unknownKey,
            path: "router.retrys",
            at: 1,
            64
        ),
        StrictDecoderBadInput(
            "duplicate key",
            #"{"models": {}, "models": {}}"#,
            .duplicateKey,
            path: "models",
            at: 1,
            16
        ),
        StrictDecoderBadInput(
            "string for int",
            #"{"router": {"listeners": [], "upstreams": [], "timeout": "1s", "retries": "3"}, "models": {}}"#,
            .typeMismatch,
            path: "router.retries",
            at: 1,
            75
        ),
        StrictDecoderBadInput(
            "number for mode",
            #"{"router": {"listeners": [{"path": "p", "kind": "unix", "mode": 660}], "upstreams": [], "timeout": "1s"}, "models": {}}"#,
            .typeMismatch,
            path: "router.listeners[0].mode",
            at: 1,
            65
        ),
        StrictDecoderBadInput("unclosed object", #"{"models": {}"#, .invalidYAML, path: "", at: 1, 14),
    ]

    @Test(arguments: cases)
    func rejectsBadJSON(_ input: StrictDecoderBadInput) {
        expectStrictDecoderError(SampleConfig.self, input)
    }
}
