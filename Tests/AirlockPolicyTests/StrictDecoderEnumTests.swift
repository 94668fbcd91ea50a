import AirlockPolicy
import Foundation
import Testing

@Suite struct StrictDecoderEnumTests {
    static func sample(kind: String) -> String {
        strictDecoderMinimalSample.replacingOccurrences(of: "kind: unix", with: "kind: \(kind)")
    }

    @Test(arguments: ["udp", "Unix", "\"\"", "'tcp '"])
    func rejectsValuesOutsideTheCases(kind: String) throws {
        let input = StrictDecoderBadInput(
            kind, Self.sample(kind: kind), .invalidValue, path: "router.listeners[0].kind", at: 4, 13)
        let error = try #require(expectStrictDecoderError(SampleConfig.self, input))
        #expect(error.message.hasSuffix("; allowed values are unix, tcp"))
    }

    @Test func suggestsTheClosestCase() throws {
        let input = StrictDecoderBadInput(
            "Unix", Self.sample(kind: "Unix"), .invalidValue, path: "router.listeners[0].kind", at: 4, 13)
        let error = try #require(expectStrictDecoderError(SampleConfig.self, input))
        #expect(error.message == #"unknown value "Unix"; allowed values are unix, tcp"#)
        #expect(error.hint == "Did you mean `unix`?")
    }

    @Test func rejectsNonStrings() {
        let input = StrictDecoderBadInput(
            "list", Self.sample(kind: "[unix]"), .typeMismatch, path: "router.listeners[0].kind", at: 4, 13)
        expectStrictDecoderError(SampleConfig.self, input)
    }
}
