/// A closed set of string values in a configuration file.
///
/// Conforming types get an `init(from:)` that rejects unknown values with the allowed ones listed:
///
///     enum ListenerKind: String, ConfigEnum { case unix, tcp }
public protocol ConfigEnum: CaseIterable, RawRepresentable, Decodable, Sendable where RawValue == String {}

extension ConfigEnum {
    /// Decodes a string and matches it against the cases, exactly and case-sensitively.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        if let value = Self(rawValue: text) {
            self = value
            return
        }
        let allowed = Self.allCases.map(\.rawValue)
        throw ConfigError(
            .invalidValue,
            "unknown value \(text.debugDescription); allowed values are \(allowed.joined(separator: ", "))",
            hint: KeySuggestion.closest(to: text, among: allowed).map { "Did you mean `\($0)`?" }
        )
    }
}
