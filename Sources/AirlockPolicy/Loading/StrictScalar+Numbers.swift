extension StrictScalar where Self: FixedWidthInteger {
    static var expectation: String { "an integer" }

    init(strict scalar: ScalarValue) throws {
        switch scalar.kind {
        case .integer where StrictNumberSyntax.isDecimalInteger(scalar.text):
            guard let value = Self(scalar.text, radix: 10) else {
                // A narrow type's range is the setting's (a mode, a byte); a 64-bit one's is the machine's, which no
                // setting takes: point at the key's own range rather than say "up to 9223372036854775807".
                guard Self.bitWidth >= 64 else {
                    throw ConfigError(
                        .outOfRange,
                        "integer \(scalar.text) is out of range for this setting",
                        hint: "Use a value from \(Self.min) to \(Self.max)."
                    )
                }
                throw ConfigError(
                    .outOfRange,
                    "integer \(scalar.text) is far beyond what this setting takes",
                    hint: "Use a value in the range docs/configuration.md gives for this key."
                )
            }
            self = value
        case .integer where StrictNumberSyntax.hasLeadingZero(scalar.text):
            throw Self.mismatch(
                scalar,
                hint: "Remove the leading zeros; YAML 1.1 reads \(scalar.text) as an octal number."
            )
        case .integer:
            throw Self.mismatch(scalar, hint: "Write the number in plain decimal digits.")
        case .float:
            throw Self.mismatch(scalar, hint: "Write a whole number.")
        case .quoted where StrictNumberSyntax.isDecimalInteger(scalar.text):
            throw Self.mismatch(scalar, hint: "Remove the quotes.")
        default:
            throw Self.mismatch(scalar)
        }
    }
}

extension StrictScalar where Self: BinaryFloatingPoint & LosslessStringConvertible {
    static var expectation: String { "a number" }

    init(strict scalar: ScalarValue) throws {
        let isNumber = scalar.kind == .integer || scalar.kind == .float
        guard isNumber, StrictNumberSyntax.isDecimal(scalar.text), let value = Self(scalar.text) else {
            let isQuotedNumber = scalar.kind == .quoted && StrictNumberSyntax.isDecimal(scalar.text)
            let hint =
                isQuotedNumber ? "Remove the quotes." : isNumber ? "Write the number in plain decimal notation." : nil
            throw Self.mismatch(scalar, hint: hint)
        }
        guard value.isFinite else {
            throw ConfigError(.outOfRange, "number \(scalar.text) is out of range for this setting")
        }
        self = value
    }
}

extension Int: StrictScalar {}
extension Int8: StrictScalar {}
extension Int16: StrictScalar {}
extension Int32: StrictScalar {}
extension Int64: StrictScalar {}
extension UInt: StrictScalar {}
extension UInt8: StrictScalar {}
extension UInt16: StrictScalar {}
extension UInt32: StrictScalar {}
extension UInt64: StrictScalar {}
extension Double: StrictScalar {}
extension Float: StrictScalar {}

/// The number spellings that mean the same in YAML 1.1 and 1.2.
enum StrictNumberSyntax {
    /// An optional sign, then `0` or digits without a leading zero.
    static func isDecimalInteger(_ text: String) -> Bool {
        let digits = unsigned(text)
        guard let first = digits.first, digits.allSatisfy(\.isASCIIDigit) else { return false }
        return first != "0" || digits.count == 1
    }

    static func hasLeadingZero(_ text: String) -> Bool {
        let digits = unsigned(text)
        return digits.count > 1 && digits.first == "0" && digits.allSatisfy(\.isASCIIDigit)
    }

    /// A decimal integer, or one with a fraction and/or exponent: `1.5`, `-2e3`, `0.25`.
    static func isDecimal(_ text: String) -> Bool {
        var rest = Substring(unsigned(text))
        let exponentStart = rest.firstIndex { $0 == "e" || $0 == "E" }
        if let exponentStart {
            var exponent = rest[rest.index(after: exponentStart)...]
            if exponent.first == "+" || exponent.first == "-" { exponent = exponent.dropFirst() }
            guard !exponent.isEmpty, exponent.allSatisfy(\.isASCIIDigit) else { return false }
            rest = rest[..<exponentStart]
        }
        let parts = rest.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, isDecimalInteger(String(whole)) else { return false }
        guard parts.count == 2 else { return true }
        return !parts[1].isEmpty && parts[1].allSatisfy(\.isASCIIDigit)
    }

    private static func unsigned(_ text: String) -> Substring {
        text.first == "-" || text.first == "+" ? text.dropFirst() : Substring(text)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
