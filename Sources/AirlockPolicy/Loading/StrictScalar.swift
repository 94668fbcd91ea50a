/// A type decoded straight from a scalar by the strict rules, rather than through its own `init(from:)`.
protocol StrictScalar {
    /// What the field wants, for "expected …": "an integer", "true or false".
    static var expectation: String { get }
    /// What to do when the field holds `null`, if there is something better than the default.
    static var nullHint: String? { get }
    /// Throws an unplaced ``ConfigError`` when the scalar is not acceptable.
    init(strict scalar: ScalarValue) throws
}

extension StrictScalar {
    static var nullHint: String? { nil }

    static func mismatch(_ scalar: ScalarValue, hint: String? = nil) -> ConfigError {
        ConfigError(.typeMismatch, "expected \(expectation), got \(scalar.described)", hint: hint)
    }
}

extension String: StrictScalar {
    static var expectation: String { "a string" }

    static var nullHint: String? { "Write a value; if you mean the text, quote it: \"null\"." }

    init(strict scalar: ScalarValue) throws {
        switch scalar.kind {
        case .quoted, .plainText, .integer, .float, .timestamp:
            self = scalar.text
        case .boolean:
            throw Self.mismatch(scalar, hint: "If you mean the text, quote it: \"\(scalar.text)\".")
        case .null:
            throw Self.mismatch(scalar, hint: Self.nullHint)
        }
    }
}

extension Bool: StrictScalar {
    static var expectation: String { "true or false" }

    init(strict scalar: ScalarValue) throws {
        switch (scalar.kind, scalar.text) {
        case (.boolean, "true"): self = true
        case (.boolean, "false"): self = false
        case (.boolean, _): throw Self.mismatch(scalar, hint: "Write true or false, in lowercase.")
        case (.quoted, "true"), (.quoted, "false"): throw Self.mismatch(scalar, hint: "Remove the quotes.")
        default: throw Self.mismatch(scalar)
        }
    }
}
