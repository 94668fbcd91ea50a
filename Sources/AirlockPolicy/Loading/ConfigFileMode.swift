/// Unix permission bits written as a quoted octal string: `"0660"`, `"0755"`, `"640"`.
///
/// The quotes are required: YAML 1.1 reads a plain `0660` as the octal number 432 and YAML 1.2 as decimal 660,
/// so an unquoted mode is rejected rather than guessed.
public struct ConfigFileMode: Decodable, Sendable, Hashable, CustomStringConvertible {
    /// The permission bits, at most `0o7777`.
    public let rawValue: UInt16

    /// Creates a mode from its bits; `nil` above `0o7777`.
    public init?(rawValue: UInt16) {
        guard rawValue <= 0o7777 else { return nil }
        self.rawValue = rawValue
    }

    /// Parses three or four octal digits, optionally after a leading `0`; throws an unplaced ``ConfigError``.
    public init(parsing text: String) throws {
        let example = "Write the mode as 3 or 4 octal digits, such as \"0660\"."
        guard (3...5).contains(text.count) else {
            throw ConfigError(
                .invalidValue, "expected 3 or 4 octal digits, got \(text.debugDescription)", hint: example)
        }
        if let bad = text.first(where: { !("0"..."7").contains($0) }) {
            throw ConfigError(
                .invalidValue,
                "\(text.debugDescription) is not an octal mode: \"\(bad)\" is not an octal digit (0-7)",
                hint: example
            )
        }
        guard let bits = UInt16(text, radix: 8), let mode = ConfigFileMode(rawValue: bits) else {
            throw ConfigError(.outOfRange, "mode \(text.debugDescription) is larger than \"07777\"", hint: example)
        }
        self = mode
    }

    public init(from decoder: any Decoder) throws {
        let scalar = try decoder.singleValueContainer().decode(ConfigScalar.self)
        // A plain word such as `rw` is simply not a mode; only plain numbers need the advice to quote.
        guard scalar.isQuoted || !scalar.text.allSatisfy(\.isNumber) else {
            throw ConfigError(
                .typeMismatch,
                "expected an octal mode string like \"0660\", got \(scalar.described)",
                hint: "Quote the mode."
            )
        }
        try self.init(parsing: scalar.text)
    }

    /// Four octal digits, such as `0660`.
    public var description: String {
        let digits = String(rawValue, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
