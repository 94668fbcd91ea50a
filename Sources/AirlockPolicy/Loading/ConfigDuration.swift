/// A non-negative span of time written as whole numbers with units: `"250ms"`, `"8s"`, `"1m"`, `"1h30m"`.
///
/// Units are `ns`, `us`, `ms`, `s`, `m` and `h`, each at most once and from largest to smallest. A bare number,
/// a sign, a fraction or a total beyond `Int64.max` nanoseconds is rejected.
public struct ConfigDuration: Decodable, Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The length in nanoseconds.
    public let nanoseconds: Int64

    /// Creates a duration from nanoseconds; negative values are clamped to zero.
    public init(nanoseconds: Int64) {
        self.nanoseconds = max(0, nanoseconds)
    }

    /// Parses text such as `"1h30m"`; throws an unplaced ``ConfigError`` with code `invalidValue` otherwise.
    public init(parsing text: String) throws {
        nanoseconds = try DurationSyntax.nanoseconds(in: text)
    }

    public init(from decoder: any Decoder) throws {
        let scalar = try decoder.singleValueContainer().decode(ConfigScalar.self)
        do {
            try self.init(parsing: scalar.text)
        } catch var error as ConfigError {
            error.message =
                "expected a duration like \"250ms\" or \"1h30m\", got \(scalar.described) (\(error.message))"
            throw error
        }
    }

    /// The same span as a `Duration`.
    public var duration: Duration { .nanoseconds(nanoseconds) }

    public static func < (lhs: ConfigDuration, rhs: ConfigDuration) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }

    /// The shortest spelling that parses back to the same value, such as `1h30m` or `250ms`.
    public var description: String {
        guard nanoseconds > 0 else { return "0s" }
        var rest = nanoseconds
        var text = ""
        for unit in DurationSyntax.units {
            let count = rest / unit.nanoseconds
            if count > 0 { text += "\(count)\(unit.symbol)" }
            rest %= unit.nanoseconds
        }
        return text
    }
}

/// The grammar of ``ConfigDuration``: one or more `<digits><unit>` pairs, units strictly decreasing.
enum DurationSyntax {
    static let units: [(symbol: String, nanoseconds: Int64)] = [
        ("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000),
        ("ms", 1_000_000), ("us", 1_000), ("ns", 1),
    ]

    private static let unitHint = "Write whole numbers with units ns, us, ms, s, m or h, such as 250ms or 1h30m."

    static func nanoseconds(in text: String) throws -> Int64 {
        var rest = Substring(text)
        var total: Int64 = 0
        var lastUnit = -1
        guard !rest.isEmpty else { throw invalid("the duration is empty", hint: unitHint) }
        if rest.first == "-" {
            throw invalid("a duration cannot be negative", hint: "Write a length of time, such as 5s.")
        }
        while !rest.isEmpty {
            let digits = rest.prefix { ("0"..."9").contains($0) }
            guard !digits.isEmpty else { throw invalid("expected a number at \"\(rest)\"", hint: unitHint) }
            rest = rest.dropFirst(digits.count)
            let symbol = rest.prefix { $0.isLetter || $0 == "µ" }
            guard !symbol.isEmpty else {
                let hint = rest.first == "." ? "Use a smaller unit instead of a fraction, such as 1500ms." : unitHint
                throw invalid(rest.isEmpty ? "the number \(digits) has no unit" : "unexpected \"\(rest)\"", hint: hint)
            }
            rest = rest.dropFirst(symbol.count)
            guard let unit = units.firstIndex(where: { $0.symbol == symbol }) else {
                throw invalid("unknown unit \"\(symbol)\"", hint: unitHint)
            }
            guard unit > lastUnit else {
                throw invalid("units must go from largest to smallest, each once", hint: "Write it like 1h30m.")
            }
            lastUnit = unit
            guard let count = Int64(digits) else { throw tooLong() }
            let (product, productOverflow) = count.multipliedReportingOverflow(by: units[unit].nanoseconds)
            let (sum, sumOverflow) = total.addingReportingOverflow(product)
            guard !productOverflow, !sumOverflow else { throw tooLong() }
            total = sum
        }
        return total
    }

    private static func invalid(_ message: String, hint: String) -> ConfigError {
        ConfigError(.invalidValue, message, hint: hint)
    }

    private static func tooLong() -> ConfigError {
        ConfigError(.outOfRange, "the duration is too long", hint: "Keep it under about 292 years.")
    }
}
