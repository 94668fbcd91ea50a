import AirlockPolicy
import Testing

struct SampleCount: Decodable {
    var count: Int
}

/// Inputs the configuration fuzzer found whose messages named the machine or the parser's C API instead of the
/// file's problem and what to do about it.
@Suite struct StrictDecoderLimitsTests {
    func error(_ text: String) -> ConfigError? {
        do {
            _ = try StrictYAMLDecoder().decode(SampleCount.self, from: text, file: "x.yaml")
            return nil
        } catch let error as ConfigError {
            return error
        } catch {
            return nil
        }
    }

    @Test("an integer wider than 64 bits is out of range, pointing at the key's documented range, not at Int's")
    func widerThanInt() throws {
        let e = try #require(error("count: 99999999999999999999999"))
        #expect(e.code == .outOfRange)
        #expect(e.message == "integer 99999999999999999999999 is far beyond what this setting takes")
        #expect(e.hint == "Use a value in the range docs/configuration.md gives for this key.")
        #expect(!e.description.contains("9223372036854775807"))
    }

    @Test("a document nested past the parser's limit says so in the file's terms, with its place")
    func nesting() throws {
        let e = try #require(error("count: " + String(repeating: "[", count: 2_000) + String(repeating: "]", count: 2_000)))
        #expect(e.code == .invalidYAML)
        #expect(e.message == "invalid YAML: the document nests deeper than the parser allows (1000 levels)")
        #expect(!e.description.contains("yaml_set_max_nest_level"))
        #expect(e.location?.line == 1)
    }
}
