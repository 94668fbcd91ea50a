/// A JSON value with where it starts (byte offset, line and column), so that a value of the wrong type can be
/// reported at its place in the file as well as by its path.
public struct JSONValue: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case null
        case bool(Bool)
        /// The number's text as written; converted on request so that 64-bit integers stay exact.
        case number(String)
        case string(String)
        case array([JSONValue])
        /// Members in file order; a key appears at most once (the reader refuses duplicates).
        case object([JSONMember])
    }

    public var kind: Kind
    public var offset: Int
    public var line: Int
    public var column: Int

    /// "a string", "an object": for messages.
    public var typeName: String {
        switch kind {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// An object member, with where its key starts (an unknown key is reported there).
public struct JSONMember: Sendable, Equatable {
    public var key: String
    public var offset: Int
    public var line: Int
    public var column: Int
    public var value: JSONValue
}
