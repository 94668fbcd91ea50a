/// A value in a receipt record. Records hold only strings, integers and booleans (no floats, no nesting), so that
/// their canonical JSON form is unambiguous.
public enum ReceiptValue: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case integer(Int64)
    case bool(Bool)

    public var description: String {
        switch self {
        case .string(let value): value
        case .integer(let value): String(value)
        case .bool(let value): String(value)
        }
    }

    /// The string, if this is a string.
    public var stringValue: String? {
        if case .string(let value) = self { value } else { nil }
    }

    /// The integer, if this is an integer.
    public var integerValue: Int64? {
        if case .integer(let value) = self { value } else { nil }
    }
}
