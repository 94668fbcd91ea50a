/// The project's one JSON reader: a strict RFC 8259 validator over bytes that records where values are, without
/// building a tree.
///
/// ``validateDocument()`` checks the whole document once: the grammar, UTF-8 (RFC 3629), `\u` escapes (UTF-16
/// surrogates only in pairs), no member name twice in one object at any depth (compared after unescaping), nesting
/// at most ``maxDepth`` and numbers at most ``maxNumberLength`` characters. Lookups then answer by byte span, so a
/// request body is never decoded into objects and can be forwarded, or spliced, as bytes. ``JSONReader`` builds a
/// value tree on top of it.
public struct JSONScanner: Sendable {
    public enum Kind: Sendable, Equatable {
        case object, array, string, number, bool, null
    }

    /// A value's bytes: `start..<end` in the scanned buffer.
    public struct Span: Sendable, Equatable {
        public var start: Int
        public var end: Int
        public var kind: Kind

        public init(start: Int, end: Int, kind: Kind) {
            self.start = start
            self.end = end
            self.kind = kind
        }
    }

    /// Nesting deeper than this is refused rather than risking the stack.
    public static let maxDepth = 64
    /// A longer number is refused: no reader of ours needs one, and readers disagree on how to round it.
    public static let maxNumberLength = 64

    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Validates the whole buffer as one JSON value and returns its span.
    public func validateDocument() throws(JSONSyntaxError) -> Span {
        var i = skipSpace(0)
        guard i < bytes.count else { throw fail(i, "the document is empty; expected a JSON value") }
        let span = try value(at: &i, depth: 0)
        i = skipSpace(i)
        guard i == bytes.count else { throw fail(i, "unexpected \(describe(i)) after the end of the JSON value") }
        return span
    }

    // MARK: Grammar

    func fail(_ offset: Int, _ message: String) -> JSONSyntaxError {
        JSONSyntaxError(offset: offset, message: message)
    }

    /// The byte at `i` for a message: "'x'", "byte 0x7", "end of file".
    func describe(_ i: Int) -> String {
        guard i < bytes.count else { return "end of file" }
        let byte = bytes[i]
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x\(String(byte, radix: 16))"
    }

    func skipSpace(_ start: Int) -> Int {
        var i = start
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return i
            }
        }
        return i
    }

    func value(at i: inout Int, depth: Int) throws(JSONSyntaxError) -> Span {
        guard i < bytes.count else { throw fail(i, "unexpected end of file; expected a value") }
        let start = i
        switch bytes[i] {
        case UInt8(ascii: "{"):
            if try isEmpty(at: &i, depth: depth, closing: UInt8(ascii: "}")) {
                return Span(start: start, end: i, kind: .object)
            }
            var names = MemberNames()
            while true {
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else {
                    throw fail(i, "unexpected \(describe(i)); expected a key in double quotes")
                }
                let keyStart = i
                try scanString(at: &i)
                let key = Span(start: keyStart, end: i, kind: .string)
                // An object naming a member twice is refused at any depth (compared after unescaping): parsers
                // disagree on which duplicate wins, and a body the router reads and the upstream reads again must
                // have one reading.
                if names.insert(key, in: self) {
                    let name = string(key) ?? ""
                    throw JSONSyntaxError(offset: keyStart, message: "duplicate key '\(name.prefix(64))'", duplicateName: name)
                }
                i = skipSpace(i)
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else {
                    throw fail(i, "unexpected \(describe(i)); expected ':' after the key '\((string(key) ?? "").prefix(64))'")
                }
                i = skipSpace(i + 1)
                _ = try value(at: &i, depth: depth + 1)
                if try isEnd(at: &i, closing: UInt8(ascii: "}")) { return Span(start: start, end: i, kind: .object) }
            }
        case UInt8(ascii: "["):
            if try isEmpty(at: &i, depth: depth, closing: UInt8(ascii: "]")) {
                return Span(start: start, end: i, kind: .array)
            }
            while true {
                _ = try value(at: &i, depth: depth + 1)
                if try isEnd(at: &i, closing: UInt8(ascii: "]")) { return Span(start: start, end: i, kind: .array) }
            }
        case UInt8(ascii: "\""):
            try scanString(at: &i)
            return Span(start: start, end: i, kind: .string)
        case UInt8(ascii: "t"):
            try literal("true", at: &i)
            return Span(start: start, end: i, kind: .bool)
        case UInt8(ascii: "f"):
            try literal("false", at: &i)
            return Span(start: start, end: i, kind: .bool)
        case UInt8(ascii: "n"):
            try literal("null", at: &i)
            return Span(start: start, end: i, kind: .null)
        case UInt8(ascii: "-"), 0x30...0x39:
            try scanNumber(at: &i)
            return Span(start: start, end: i, kind: .number)
        default:
            throw fail(i, "unexpected \(describe(i)); expected a value")
        }
    }

    /// At a container's opening byte: checks the depth and moves past it; true (and past the closing byte) when the
    /// container is empty.
    @inline(__always)
    private func isEmpty(at i: inout Int, depth: Int, closing: UInt8) throws(JSONSyntaxError) -> Bool {
        guard depth < Self.maxDepth else { throw fail(i, "nested deeper than \(Self.maxDepth) levels") }
        i = skipSpace(i + 1)
        guard i < bytes.count, bytes[i] == closing else { return false }
        i += 1
        return true
    }

    /// After a member or element: true (and past the closing byte) at the container's end, false past a comma.
    @inline(__always)
    private func isEnd(at i: inout Int, closing: UInt8) throws(JSONSyntaxError) -> Bool {
        i = skipSpace(i)
        guard i < bytes.count else {
            throw fail(i, "unexpected end of file; expected ',' or '\(Character(Unicode.Scalar(closing)))'")
        }
        if bytes[i] == UInt8(ascii: ",") {
            i = skipSpace(i + 1)
            return false
        }
        guard bytes[i] == closing else {
            throw fail(i, "unexpected \(describe(i)); expected ',' or '\(Character(Unicode.Scalar(closing)))'")
        }
        i += 1
        return true
    }

    private func literal(_ word: StaticString, at i: inout Int) throws(JSONSyntaxError) {
        let n = word.utf8CodeUnitCount
        let ok = i + n <= bytes.count && word.withUTF8Buffer { w in (0..<n).allSatisfy { bytes[i + $0] == w[$0] } }
        guard ok else { throw fail(i, "unexpected \(describe(i)); expected a value (true, false and null are lower case)") }
        i += n
    }

    private func scanNumber(at i: inout Int) throws(JSONSyntaxError) {
        let start = i
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < bytes.count, isDigit(bytes[i]) else { throw fail(i, "a number needs digits after '-'") }
        if bytes[i] == 0x30 {
            i += 1
            if i < bytes.count, isDigit(bytes[i]) { throw fail(i - 1, "a number must not have leading zeros") }
        } else {
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard i < bytes.count, isDigit(bytes[i]) else { throw fail(i, "a number needs digits after '.'") }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, isDigit(bytes[i]) else { throw fail(i, "a number needs digits in its exponent") }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        if i - start > Self.maxNumberLength {
            throw fail(start, "a number longer than \(Self.maxNumberLength) characters")
        }
    }

    private func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    /// Scans a string starting at its opening quote, validating escapes and UTF-8.
    private func scanString(at i: inout Int) throws(JSONSyntaxError) {
        let start = i
        i += 1
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "\""):
                i += 1
                return
            case UInt8(ascii: "\\"):
                // A backslash as the last byte (a bare `break` would leave the switch only, and loop forever).
                guard i + 1 < bytes.count else { throw fail(start, "the string starting here is not closed") }
                switch bytes[i + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    i += try scanUnicodeEscape(at: i)
                default:
                    throw fail(i, "unknown escape '\\\(describe(i + 1).trimmingQuotes)'")
                }
            case 0x00..<0x20:
                throw fail(i, "control character 0x\(String(b, radix: 16)) in a string; write it as an escape (\\n, \\t, \\u00XX)")
            case 0x20..<0x80:
                i += 1
            default:
                i = try scanUTF8(at: i)
            }
        }
        throw fail(start, "the string starting here is not closed")
    }

    /// Checks the `\u` escape at `i` (the backslash); returns its length, 12 for a surrogate pair.
    private func scanUnicodeEscape(at i: Int) throws(JSONSyntaxError) -> Int {
        guard let unit = hexUnit(at: i) else { throw fail(i, "\\u needs four hex digits") }
        // UTF-16 surrogates only in pairs (RFC 8259 section 8.2): decoders disagree on a lone one, some dropping it
        // and some replacing it, so a name could read differently upstream.
        if (0xDC00..<0xE000).contains(unit) {
            throw fail(i, "a lone low surrogate \\u\(String(unit, radix: 16))")
        }
        guard (0xD800..<0xDC00).contains(unit) else { return 6 }
        guard i + 7 < bytes.count, bytes[i + 6] == UInt8(ascii: "\\"), bytes[i + 7] == UInt8(ascii: "u") else {
            throw fail(i, "a high surrogate \\u\(String(unit, radix: 16)) must be followed by a low surrogate")
        }
        guard let low = hexUnit(at: i + 6) else { throw fail(i + 6, "\\u needs four hex digits") }
        guard (0xDC00..<0xE000).contains(low) else {
            throw fail(i, "a high surrogate \\u\(String(unit, radix: 16)) is followed by \\u\(String(low, radix: 16)), not a low surrogate")
        }
        return 12
    }

    /// The four hex digits after `\u` at `i` (the backslash), or nil.
    func hexUnit(at i: Int) -> UInt32? {
        guard i + 6 <= bytes.count else { return nil }
        var unit: UInt32 = 0
        for j in 2..<6 {
            guard let digit = hexDigit(bytes[i + j]) else { return nil }
            unit = unit << 4 | UInt32(digit)
        }
        return unit
    }

    /// Validates one multi-byte UTF-8 sequence (RFC 3629: no overlongs, no surrogates, max U+10FFFF).
    private func scanUTF8(at start: Int) throws(JSONSyntaxError) -> Int {
        let b0 = bytes[start]
        let count: Int
        var lower: UInt8 = 0x80
        var upper: UInt8 = 0xBF
        switch b0 {
        case 0xC2...0xDF: count = 2
        case 0xE0: count = 3; lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: count = 3
        case 0xED: count = 3; upper = 0x9F
        case 0xF0: count = 4; lower = 0x90
        case 0xF1...0xF3: count = 4
        case 0xF4: count = 4; upper = 0x8F
        default: throw invalidUTF8(start)
        }
        guard start + count <= bytes.count else { throw invalidUTF8(start) }
        let b1 = bytes[start + 1]
        guard b1 >= lower && b1 <= upper else { throw invalidUTF8(start) }
        for k in 2..<max(2, count) {
            guard bytes[start + k] & 0xC0 == 0x80 else { throw invalidUTF8(start) }
        }
        return start + count
    }

    private func invalidUTF8(_ i: Int) -> JSONSyntaxError {
        fail(i, "invalid UTF-8 (a sequence starting with byte 0x\(String(bytes[i], radix: 16)))")
    }
}

/// The value of a hex digit, or nil.
func hexDigit(_ b: UInt8) -> UInt8? {
    switch b {
    case 0x30...0x39: b - 0x30
    case 0x41...0x46: b - 0x41 + 10
    case 0x61...0x66: b - 0x61 + 10
    default: nil
    }
}

extension String {
    fileprivate var trimmingQuotes: Substring {
        hasPrefix("'") && hasSuffix("'") && count > 2 ? dropFirst().dropLast() : Substring(self)
    }
}
