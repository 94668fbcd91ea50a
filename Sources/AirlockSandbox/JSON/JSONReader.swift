/// A strict RFC 8259 reader for the launcher's own files (policies, seccomp profiles): one value, no comments, no
/// trailing commas, no duplicate keys, no lone surrogates, valid UTF-8 only. Every error names the line and column.
///
/// Foundation's JSONDecoder would do, but linking Foundation costs the launcher milliseconds of start-up
/// (relocations and initialisers) for files of a few kilobytes.
public struct JSONReader {
    /// Nesting deeper than this is refused rather than risking the stack; real profiles nest five levels.
    public static let maxDepth = 64

    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var lineStart = 0
    private var depth = 0

    private init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Parses one JSON document; whitespace may surround it, nothing else. A UTF-8 byte order mark is skipped.
    public static func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
        var reader = JSONReader(bytes)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            reader.index = 3
            reader.lineStart = 3
        }
        reader.skipWhitespace()
        guard reader.index < bytes.count else { throw reader.error("the document is empty; expected a JSON value") }
        let value = try reader.readValue()
        reader.skipWhitespace()
        guard reader.index == bytes.count else {
            throw reader.error("unexpected \(reader.describeCurrent()) after the end of the JSON value")
        }
        return value
    }

    private var column: Int { index - lineStart + 1 }

    private func error(_ message: String) -> JSONError {
        JSONError(message: message, line: line, column: column)
    }

    private func describeCurrent() -> String {
        guard index < bytes.count else { return "end of file" }
        let byte = bytes[index]
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x\(String(byte, radix: 16))"
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0D:
                index += 1
            case 0x0A:
                index += 1
                line += 1
                lineStart = index
            default:
                return
            }
        }
    }

    private mutating func readValue() throws(JSONError) -> JSONValue {
        let (startLine, startColumn) = (line, column)
        guard index < bytes.count else { throw error("unexpected end of file; expected a value") }
        let kind: JSONValue.Kind
        switch bytes[index] {
        case UInt8(ascii: "{"): kind = try readObject()
        case UInt8(ascii: "["): kind = try readArray()
        case UInt8(ascii: "\""): kind = .string(try readString())
        case UInt8(ascii: "t"): try readLiteral("true"); kind = .bool(true)
        case UInt8(ascii: "f"): try readLiteral("false"); kind = .bool(false)
        case UInt8(ascii: "n"): try readLiteral("null"); kind = .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): kind = .number(try readNumber())
        default: throw error("unexpected \(describeCurrent()); expected a value")
        }
        return JSONValue(kind: kind, line: startLine, column: startColumn)
    }

    private mutating func enter() throws(JSONError) {
        depth += 1
        guard depth <= Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
    }

    private mutating func readObject() throws(JSONError) -> JSONValue.Kind {
        try enter()
        index += 1
        var members: [JSONMember] = []
        var seen: Set<String> = []
        skipWhitespace()
        if index < bytes.count && bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw error("unexpected \(describeCurrent()); expected a key in double quotes")
            }
            let (keyLine, keyColumn) = (line, column)
            let key = try readString()
            // With two values for one key, which one wins differs between parsers; a policy must mean one thing.
            guard seen.insert(key).inserted else {
                throw JSONError(message: "duplicate key '\(key)'", line: keyLine, column: keyColumn)
            }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                throw error("unexpected \(describeCurrent()); expected ':' after the key '\(key)'")
            }
            index += 1
            skipWhitespace()
            members.append(JSONMember(key: key, line: keyLine, column: keyColumn, value: try readValue()))
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of file; expected ',' or '}'") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "}") else {
                throw error("unexpected \(describeCurrent()); expected ',' or '}'")
            }
            index += 1
            depth -= 1
            return .object(members)
        }
    }

    private mutating func readArray() throws(JSONError) -> JSONValue.Kind {
        try enter()
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count && bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try readValue())
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of file; expected ',' or ']'") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "]") else {
                throw error("unexpected \(describeCurrent()); expected ',' or ']'")
            }
            index += 1
            depth -= 1
            return .array(elements)
        }
    }

    private mutating func readLiteral(_ word: StaticString) throws(JSONError) {
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        let end = index + expected.count
        guard end <= bytes.count, bytes[index..<end].elementsEqual(expected) else {
            throw error("unexpected \(describeCurrent()); expected a value (true, false and null are lower case)")
        }
        index += expected.count
    }

    private mutating func readNumber() throws(JSONError) -> String {
        let start = index
        func digits(_ reader: inout JSONReader) -> Int {
            let first = reader.index
            let decimal = UInt8(ascii: "0")...UInt8(ascii: "9")
            while reader.index < reader.bytes.count, decimal.contains(reader.bytes[reader.index]) {
                reader.index += 1
            }
            return reader.index - first
        }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        let integerStart = index
        guard digits(&self) > 0 else { throw error("a number needs digits after '-'") }
        if bytes[integerStart] == UInt8(ascii: "0") && index - integerStart > 1 {
            throw JSONError(message: "a number must not have leading zeros", line: line,
                            column: integerStart - lineStart + 1)
        }
        if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { throw error("a number needs digits after '.'") }
        }
        if index < bytes.count && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
            index += 1
            if index < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) {
                index += 1
            }
            guard digits(&self) > 0 else { throw error("a number needs digits in its exponent") }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private mutating func readString() throws(JSONError) -> String {
        let (startLine, startColumn) = (line, column)
        index += 1
        var out: [UInt8] = []
        while true {
            guard index < bytes.count else {
                throw JSONError(message: "the string starting here is not closed", line: startLine, column: startColumn)
            }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let text = String(validating: out, as: UTF8.self) else {
                    throw JSONError(message: "the string starting here is not valid UTF-8", line: startLine,
                                    column: startColumn)
                }
                return text
            case UInt8(ascii: "\\"):
                try readEscape(into: &out)
            case 0..<0x20:
                throw error("control character 0x\(String(byte, radix: 16)) in a string; "
                    + "write it as an escape (\\n, \\t, \\u00XX)")
            default:
                out.append(byte)
                index += 1
            }
        }
    }

    private mutating func readEscape(into out: inout [UInt8]) throws(JSONError) {
        let start = column
        func error(_ message: String) -> JSONError { JSONError(message: message, line: line, column: start) }
        index += 1
        guard index < bytes.count else { throw error("unexpected end of file in an escape") }
        let simple: [UInt8: UInt8] = [
            UInt8(ascii: "\""): 0x22, UInt8(ascii: "\\"): 0x5C, UInt8(ascii: "/"): 0x2F, UInt8(ascii: "b"): 0x08,
            UInt8(ascii: "f"): 0x0C, UInt8(ascii: "n"): 0x0A, UInt8(ascii: "r"): 0x0D, UInt8(ascii: "t"): 0x09,
        ]
        if let value = simple[bytes[index]] {
            out.append(value)
            index += 1
            return
        }
        guard bytes[index] == UInt8(ascii: "u") else {
            throw error("unknown escape '\\\(Character(Unicode.Scalar(bytes[index])))'")
        }
        guard let first = readHex4() else { throw error("\\u needs four hex digits") }
        var scalar = first
        if (0xD800...0xDBFF).contains(scalar) {
            let escapeFollows = bytes.count - index >= 2 && bytes[index] == UInt8(ascii: "\\")
                && bytes[index + 1] == UInt8(ascii: "u")
            guard escapeFollows else {
                throw error("a high surrogate \\u\(String(scalar, radix: 16)) must be followed by a low surrogate")
            }
            index += 1
            guard let low = readHex4() else { throw error("\\u needs four hex digits") }
            guard (0xDC00...0xDFFF).contains(low) else {
                throw error("\\u\(String(low, radix: 16)) is not a low surrogate")
            }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(scalar) {
            throw error("a lone low surrogate \\u\(String(scalar, radix: 16))")
        }
        out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
    }

    /// Reads "uXXXX" (index at the 'u'); nil if four hex digits do not follow.
    private mutating func readHex4() -> UInt32? {
        index += 1
        guard bytes.count - index >= 4 else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }
}
