/// A JSON value with the line and column where it starts, so that a value of the wrong type can be reported at
/// its place in the file as well as by its path.
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
    public var line: Int
    public var column: Int

    /// "a string", "an object": for messages.
    var typeName: String {
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
    public var line: Int
    public var column: Int
    public var value: JSONValue
}

extension JSONValue {
    /// `text` as a JSON string literal, escaping what RFC 8259 section 7 requires.
    public static func quoted(_ text: String) -> String {
        var out: [UInt8] = [0x22]
        out.reserveCapacity(text.utf8.count + 2)
        for byte in text.utf8 {
            switch byte {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0..<0x20:
                let digits = Array("0123456789abcdef".utf8)
                out += Array("\\u00".utf8) + [digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]]
            default: out.append(byte)
            }
        }
        out.append(0x22)
        return String(decoding: out, as: UTF8.self)
    }
}
