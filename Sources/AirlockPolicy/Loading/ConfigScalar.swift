/// A scalar exactly as the file wrote it, for types that parse their own text (durations, file modes).
///
/// Decoding a `ConfigScalar` never fails on a scalar; it fails on a mapping, a list or `null`.
public struct ConfigScalar: Decodable, Sendable, Hashable {
    /// The scalar's text.
    public let text: String
    /// Whether the text was quoted (or a block scalar), rather than plain.
    public let isQuoted: Bool
    /// How the value reads in an error's "got …": `string "8"`, `integer 660`.
    public let described: String

    init(_ scalar: ScalarValue) {
        text = scalar.text
        isQuoted = scalar.isQuoted
        described = scalar.described
    }

    /// Decodes from another decoder (such as `JSONDecoder`), where only strings can be told apart.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self.text = text
        isQuoted = true
        described = "string \(text.debugDescription)"
    }
}

extension ConfigScalar: StrictScalar {
    static var expectation: String { "a value" }

    init(strict scalar: ScalarValue) throws {
        self.init(scalar)
    }
}
