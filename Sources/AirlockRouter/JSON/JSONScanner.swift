/// A validating JSON scanner over bytes that records where values are, without building a tree.
///
/// The router reads only a few fields of a request or response body; this scanner validates the whole
/// document once (RFC 8259 grammar, UTF-8, nesting depth) and then answers lookups by byte span, so the
/// body is never decoded into objects and can be forwarded, or spliced, as bytes.
struct JSONScanner {
    enum Kind: Sendable, Equatable {
        case object, array, string, number, bool, null
    }

    /// A value's bytes: `start..<end` in the scanned buffer.
    struct Span: Sendable, Equatable {
        var start: Int
        var end: Int
        var kind: Kind
    }

    struct Failure: Error, Sendable, Equatable {
        var offset: Int
        var reason: String
        /// An object names a member twice (only with `rejectDuplicateNames`).
        var duplicateName: String?
    }

    static let maxDepth = 64

    let bytes: [UInt8]
    /// Refuse an object that names a member twice, at any depth (compared after unescaping). Bodies the router
    /// reads and the upstream reads again must have one reading: parsers disagree on which duplicate wins.
    let rejectDuplicateNames: Bool

    init(_ bytes: [UInt8], rejectDuplicateNames: Bool = false) {
        self.bytes = bytes
        self.rejectDuplicateNames = rejectDuplicateNames
    }

    /// Validates the whole buffer as one JSON value and returns its span.
    func validateDocument() throws(Failure) -> Span {
        var i = skipSpace(0)
        let span = try value(at: &i, depth: 0)
        i = skipSpace(i)
        guard i == bytes.count else { throw Failure(offset: i, reason: "unexpected data after the JSON value") }
        return span
    }

    // MARK: Lookups on a validated document

    /// The members of an object, in order, as (key span, value span). Keys keep their quotes.
    func members(of object: Span) -> [(key: Span, value: Span)] {
        precondition(object.kind == .object)
        var result: [(Span, Span)] = []
        var i = skipSpace(object.start + 1)
        while i < object.end - 1 {
            let keyEnd = endOfString(i)
            let key = Span(start: i, end: keyEnd, kind: .string)
            i = skipSpace(keyEnd) + 1
            i = skipSpace(i)
            let value = (try? self.value(at: &i, depth: 0)) ?? Span(start: i, end: i, kind: .null)
            result.append((key, value))
            i = skipSpace(i)
            if i < bytes.count, bytes[i] == UInt8(ascii: ",") { i = skipSpace(i + 1) }
        }
        return result
    }

    /// The elements of an array, in order.
    func elements(of array: Span) -> [Span] {
        precondition(array.kind == .array)
        var result: [Span] = []
        var i = skipSpace(array.start + 1)
        while i < array.end - 1 {
            guard let element = try? value(at: &i, depth: 0) else { break }
            result.append(element)
            i = skipSpace(i)
            if i < bytes.count, bytes[i] == UInt8(ascii: ",") { i = skipSpace(i + 1) }
        }
        return result
    }

    /// The value of `key` in `object`, or nil.
    func value(of object: Span, key: String) -> Span? {
        guard object.kind == .object else { return nil }
        for (k, v) in members(of: object) where keyEquals(k, key) {
            return v
        }
        return nil
    }

    /// Follows a path of object keys from `root`.
    func value(at path: [String], in root: Span) -> Span? {
        var current = root
        for key in path {
            guard let next = value(of: current, key: key) else { return nil }
            current = next
        }
        return current
    }

    /// Whether a key span (with quotes) equals `key`, unescaping if needed.
    func keyEquals(_ span: Span, _ key: String) -> Bool {
        let raw = bytes[(span.start + 1)..<(span.end - 1)]
        if !raw.contains(UInt8(ascii: "\\")) {
            return raw.elementsEqual(key.utf8)
        }
        return string(span) == key
    }

    /// The decoded text of a string span.
    func string(_ span: Span) -> String? {
        guard span.kind == .string else { return nil }
        let inner = bytes[(span.start + 1)..<(span.end - 1)]
        if !inner.contains(UInt8(ascii: "\\")) {
            return String(decoding: inner, as: UTF8.self)
        }
        return unescape(inner)
    }

    /// An integer value (no fraction or exponent) that fits in Int, or nil.
    func integer(_ span: Span) -> Int? {
        guard span.kind == .number else { return nil }
        var i = span.start
        var negative = false
        if bytes[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        var value = 0
        while i < span.end {
            let b = bytes[i]
            guard b >= 0x30 && b <= 0x39 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int(b - 0x30))
            if o1 || o2 { return nil }
            value = a
            i += 1
        }
        return negative ? -value : value
    }

    func bool(_ span: Span) -> Bool? {
        guard span.kind == .bool else { return nil }
        return bytes[span.start] == UInt8(ascii: "t")
    }

    // MARK: Grammar

    private func skipSpace(_ start: Int) -> Int {
        var i = start
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return i
            }
        }
        return i
    }

    private func value(at i: inout Int, depth: Int) throws(Failure) -> Span {
        guard i < bytes.count else { throw Failure(offset: i, reason: "unexpected end of JSON") }
        let start = i
        switch bytes[i] {
        case UInt8(ascii: "{"):
            guard depth < Self.maxDepth else { throw Failure(offset: i, reason: "JSON nested deeper than \(Self.maxDepth)") }
            i = skipSpace(i + 1)
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
                i += 1
                return Span(start: start, end: i, kind: .object)
            }
            var names: [Span] = []
            var nameSet: Set<[UInt8]>?
            while true {
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else {
                    throw Failure(offset: i, reason: "expected a string key")
                }
                let keyStart = i
                try scanString(at: &i)
                if rejectDuplicateNames {
                    let key = Span(start: keyStart, end: i, kind: .string)
                    // Small objects compare in place; a large one (an attacker's 100,000 names) is hashed, so the
                    // check stays linear in the body.
                    let seen: Bool
                    if let inserted = nameSet?.insert(nameBytes(key)).inserted {
                        // Mutated in place through the optional: no copy of the set per name.
                        seen = !inserted
                    } else {
                        seen = names.contains { sameName($0, key) }
                        names.append(key)
                        if names.count > 16 { nameSet = Set(names.map(nameBytes)) }
                    }
                    if seen {
                        let name = string(key) ?? ""
                        throw Failure(offset: keyStart, reason: "the member name \"\(name.prefix(64))\" appears twice", duplicateName: name)
                    }
                }
                i = skipSpace(i)
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw Failure(offset: i, reason: "expected ':'") }
                i = skipSpace(i + 1)
                _ = try value(at: &i, depth: depth + 1)
                i = skipSpace(i)
                guard i < bytes.count else { throw Failure(offset: i, reason: "unterminated object") }
                if bytes[i] == UInt8(ascii: ",") {
                    i = skipSpace(i + 1)
                    continue
                }
                guard bytes[i] == UInt8(ascii: "}") else { throw Failure(offset: i, reason: "expected ',' or '}'") }
                i += 1
                return Span(start: start, end: i, kind: .object)
            }
        case UInt8(ascii: "["):
            guard depth < Self.maxDepth else { throw Failure(offset: i, reason: "JSON nested deeper than \(Self.maxDepth)") }
            i = skipSpace(i + 1)
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
                i += 1
                return Span(start: start, end: i, kind: .array)
            }
            while true {
                _ = try value(at: &i, depth: depth + 1)
                i = skipSpace(i)
                guard i < bytes.count else { throw Failure(offset: i, reason: "unterminated array") }
                if bytes[i] == UInt8(ascii: ",") {
                    i = skipSpace(i + 1)
                    continue
                }
                guard bytes[i] == UInt8(ascii: "]") else { throw Failure(offset: i, reason: "expected ',' or ']'") }
                i += 1
                return Span(start: start, end: i, kind: .array)
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
            throw Failure(offset: i, reason: "unexpected character")
        }
    }

    private func literal(_ word: StaticString, at i: inout Int) throws(Failure) {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw Failure(offset: i, reason: "unexpected end of JSON") }
        let ok = word.withUTF8Buffer { w in
            (0..<n).allSatisfy { bytes[i + $0] == w[$0] }
        }
        guard ok else { throw Failure(offset: i, reason: "invalid literal") }
        i += n
    }

    private func scanNumber(at i: inout Int) throws(Failure) {
        let start = i
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < bytes.count, isDigit(bytes[i]) else { throw Failure(offset: i, reason: "invalid number") }
        if bytes[i] == 0x30 {
            i += 1
        } else {
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard i < bytes.count, isDigit(bytes[i]) else { throw Failure(offset: i, reason: "invalid number") }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, isDigit(bytes[i]) else { throw Failure(offset: i, reason: "invalid number") }
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        }
        if i - start > 64 { throw Failure(offset: start, reason: "number too long") }
    }

    private func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    /// Scans a string starting at its opening quote, validating escapes and UTF-8.
    private func scanString(at i: inout Int) throws(Failure) {
        i += 1
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "\""):
                i += 1
                return
            case UInt8(ascii: "\\"):
                guard i + 1 < bytes.count else { break }
                switch bytes[i + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    guard let unit = hexUnit(at: i) else { throw Failure(offset: i, reason: "invalid \\u escape") }
                    // UTF-16 surrogates only in pairs (RFC 8259 section 8.2): decoders disagree on a lone one,
                    // some dropping it and some replacing it, so a name could read differently upstream.
                    if (0xDC00..<0xE000).contains(unit) {
                        throw Failure(offset: i, reason: "unpaired surrogate escape")
                    }
                    if (0xD800..<0xDC00).contains(unit) {
                        guard i + 12 <= bytes.count, bytes[i + 6] == UInt8(ascii: "\\"), bytes[i + 7] == UInt8(ascii: "u"),
                            let low = hexUnit(at: i + 6), (0xDC00..<0xE000).contains(low)
                        else { throw Failure(offset: i, reason: "unpaired surrogate escape") }
                        i += 6
                    }
                    i += 6
                default:
                    throw Failure(offset: i, reason: "invalid escape")
                }
            case 0x00..<0x20:
                throw Failure(offset: i, reason: "control character in string")
            case 0x20..<0x80:
                i += 1
            default:
                i = try scanUTF8(at: i)
            }
        }
        throw Failure(offset: i, reason: "unterminated string")
    }

    /// The four hex digits after `\u` at `i` (the backslash), or nil.
    private func hexUnit(at i: Int) -> UInt32? {
        guard i + 6 <= bytes.count else { return nil }
        var unit: UInt32 = 0
        for j in 2..<6 {
            let b = bytes[i + j]
            let digit: UInt8
            switch b {
            case 0x30...0x39: digit = b - 0x30
            case 0x41...0x46: digit = b - 0x41 + 10
            case 0x61...0x66: digit = b - 0x61 + 10
            default: return nil
            }
            unit = unit << 4 | UInt32(digit)
        }
        return unit
    }

    /// A key's name as bytes, unescaped when it has an escape.
    private func nameBytes(_ key: Span) -> [UInt8] {
        let raw = bytes[(key.start + 1)..<(key.end - 1)]
        if !raw.contains(UInt8(ascii: "\\")) { return Array(raw) }
        return Array((string(key) ?? "").utf8)
    }

    /// Whether two key spans name the same member (byte comparison, unescaping only when either has an escape).
    private func sameName(_ a: Span, _ b: Span) -> Bool {
        let x = bytes[(a.start + 1)..<(a.end - 1)]
        let y = bytes[(b.start + 1)..<(b.end - 1)]
        if !x.contains(UInt8(ascii: "\\")) && !y.contains(UInt8(ascii: "\\")) { return x.elementsEqual(y) }
        return string(a) == string(b)
    }

    /// Validates one multi-byte UTF-8 sequence (RFC 3629: no overlongs, no surrogates, max U+10FFFF).
    private func scanUTF8(at start: Int) throws(Failure) -> Int {
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
        default: throw Failure(offset: start, reason: "invalid UTF-8")
        }
        guard start + count <= bytes.count else { throw Failure(offset: start, reason: "invalid UTF-8") }
        let b1 = bytes[start + 1]
        guard b1 >= lower && b1 <= upper else { throw Failure(offset: start, reason: "invalid UTF-8") }
        for k in 2..<max(2, count) {
            guard bytes[start + k] & 0xC0 == 0x80 else { throw Failure(offset: start, reason: "invalid UTF-8") }
        }
        return start + count
    }

    /// End (exclusive) of a string that is known to be valid.
    private func endOfString(_ start: Int) -> Int {
        var i = start + 1
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\") {
                i += 2
            } else if bytes[i] == UInt8(ascii: "\"") {
                return i + 1
            } else {
                i += 1
            }
        }
        return i
    }

    private func unescape(_ inner: ArraySlice<UInt8>) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(inner.count)
        var i = inner.startIndex
        var pendingHigh: UInt32?
        while i < inner.endIndex {
            let b = inner[i]
            guard b == UInt8(ascii: "\\") else {
                out.append(b)
                i += 1
                continue
            }
            let e = inner[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                let hex = String(decoding: inner[i..<(i + 4)], as: UTF8.self)
                i += 4
                guard let unit = UInt32(hex, radix: 16) else { return nil }
                var scalarValue = unit
                if (0xD800..<0xDC00).contains(unit) {
                    pendingHigh = unit
                    continue
                } else if (0xDC00..<0xE000).contains(unit) {
                    guard let high = pendingHigh else { return nil }
                    scalarValue = 0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00)
                }
                pendingHigh = nil
                guard let scalar = Unicode.Scalar(scalarValue) else { return nil }
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default: out.append(e)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
