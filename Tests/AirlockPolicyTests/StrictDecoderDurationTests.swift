import AirlockPolicy
import Testing

struct SampleTimed: Decodable {
    var timeout: ConfigDuration
}

@Suite struct StrictDecoderDurationTests {
    @Test(
        arguments: [
            ("250ms", 250_000_000),
            ("8s", 8_000_000_000),
            ("1m", 60_000_000_000),
            ("2h", 7_200_000_000_000),
            ("1h30m", 5_400_000_000_000),
            ("1m30s500ms", 90_500_000_000),
            ("0s", 0),
            ("15us", 15_000),
            ("7ns", 7),
            ("\"8s\"", 8_000_000_000),
            ("9223372036854775807ns", Int64.max),
        ] as [(String, Int64)])
    func parses(text: String, nanoseconds: Int64) throws {
        let timed = try StrictYAMLDecoder().decode(SampleTimed.self, from: "timeout: \(text)", file: "x.yaml")
        #expect(timed.timeout.nanoseconds == nanoseconds)
        #expect(timed.timeout.duration == .nanoseconds(nanoseconds))
    }

    @Test(arguments: [
        ("8", ConfigError.Code.invalidValue),
        ("\"8\"", .invalidValue),
        ("-5s", .invalidValue),
        ("1.5s", .invalidValue),
        ("5x", .invalidValue),
        ("5 s", .invalidValue),
        ("s", .invalidValue),
        ("''", .invalidValue),
        ("30m1h", .invalidValue),
        ("1s1s", .invalidValue),
        ("9999999h", .outOfRange),
        ("99999999999999999999ns", .outOfRange),
        ("9223372036854775807ns1ns", .invalidValue),
        ("5124096h1s", .outOfRange),
        ("null", .nullValue),
        ("[1s]", .typeMismatch),
    ])
    func rejects(text: String, code: ConfigError.Code) {
        expectStrictDecoderError(
            SampleTimed.self, StrictDecoderBadInput(text, "timeout: \(text)", code, path: "timeout", at: 1, 10))
    }

    @Test func explainsABareNumber() throws {
        let error = try #require(
            expectStrictDecoderError(
                SampleTimed.self, StrictDecoderBadInput("8", "timeout: 8", .invalidValue, path: "timeout", at: 1, 10)))
        #expect(
            error.message == #"expected a duration like "250ms" or "1h30m", got integer 8 (the number 8 has no unit)"#)
        #expect(error.hint == "Write whole numbers with units ns, us, ms, s, m or h, such as 250ms or 1h30m.")
    }

    @Test func ordersAndPrints() throws {
        let short = try ConfigDuration(parsing: "250ms")
        let long = try ConfigDuration(parsing: "1h30m")
        #expect(short < long)
        #expect(long.description == "1h30m")
        #expect(try ConfigDuration(parsing: "1m30s500ms").description == "1m30s500ms")
        #expect(ConfigDuration(nanoseconds: 0).description == "0s")
        #expect(try ConfigDuration(parsing: long.description) == long)
    }
}
