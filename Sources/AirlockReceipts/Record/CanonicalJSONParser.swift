#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Parses a flat JSON object and accepts it only if it is already in the canonical form that ``CanonicalJSON``
/// writes: no whitespace, member names strictly increasing, minimal string escapes, valid UTF-8, integers without
/// leading zeros, exponent, fraction or `-0`, only strings, integers and booleans.
///
/// It works on raw bytes without building intermediate strings unless asked, so the verifier can check a
/// million records a second.
struct CanonicalJSONParser {
    struct Failure: Error, Equatable {
        let offset: Int
        let reason: String
    }

    /// A value as found in the bytes; strings are still escaped, so nothing is allocated.
    enum RawValue {
        case string(UnsafeRawBufferPointer)
        case integer(Int64)
        case bool(Bool)

        var decoded: ReceiptValue {
            switch self {
            case .string(let raw): .string(CanonicalJSONParser.unescape(raw))
            case .integer(let value): .integer(value)
            case .bool(let value): .bool(value)
            }
        }
    }

    /// Calls `member` for each member in order with the raw name bytes and the raw value.
    static func parse(
        _ bytes: UnsafeRawBufferPointer,
        member: (UnsafeRawBufferPointer, RawValue) throws(Failure) -> Void
    ) throws(Failure) {
        var parser = CanonicalJSONParser(bytes: bytes)
        try parser.parseObject(member: member)
    }

    /// Parses into an ordered list of members.
    static func parse(_ bytes: [UInt8]) throws(Failure) -> [(String, ReceiptValue)] {
        var members: [(String, ReceiptValue)] = []
        let failure: Failure? = bytes.withUnsafeBytes { (buffer) -> Failure? in
            do throws(Failure) {
                try parse(buffer) { (name, value) throws(Failure) in
                    members.append((String(decoding: name, as: UTF8.self), value.decoded))
                }
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
        return members
    }

    private let bytes: UnsafeRawBufferPointer
    private var position = 0

    private init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    private func fail(_ reason: String) -> Failure { Failure(offset: position, reason: reason) }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(Failure) {
        guard current == byte else { throw fail("expected \(what)") }
        position += 1
    }

    private mutating func parseObject(
        member: (UnsafeRawBufferPointer, RawValue) throws(Failure) -> Void
    ) throws(Failure) {
        try expect(UInt8(ascii: "{"), "'{'")
        var previousName: UnsafeRawBufferPointer?
        if current == UInt8(ascii: "}") {
            position += 1
        } else {
            while true {
                let nameStart = position
                let nameRange = try scanString()
                let name = UnsafeRawBufferPointer(rebasing: bytes[nameRange])
                if let previousName, !Self.precedes(previousName, name) {
                    position = nameStart
                    throw fail("member names are not unique and sorted")
                }
                previousName = name
                try expect(UInt8(ascii: ":"), "':' (no whitespace allowed)")
                let value = try parseValue()
                try member(name, value)
                if current == UInt8(ascii: ",") {
                    position += 1
                    continue
                }
                try expect(UInt8(ascii: "}"), "',' or '}'")
                break
            }
        }
        guard position == bytes.count else { throw fail("trailing bytes after the object") }
    }

    /// Names are compared by UTF-16 code units (RFC 8785 section 3.2.3). Only escape-free names reach here when
    /// compared byte-wise: for them UTF-8 byte order equals code-point order, which differs from UTF-16 order only
    /// for code points above U+FFFF against U+E000...U+FFFF; those are compared exactly via String.
    private static func precedes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        // UTF-8 byte order equals UTF-16 order unless a code point at or above U+E000 (lead byte 0xEE or more)
        // is involved.
        let simple = !a.contains { $0 >= 0xEE } && !b.contains { $0 >= 0xEE }
        if simple {
            let common = min(a.count, b.count)
            let order = memcmp(a.baseAddress!, b.baseAddress!, common)
            return order < 0 || (order == 0 && a.count < b.count)
        }
        let left = String(decoding: a, as: UTF8.self).utf16
        let right = String(decoding: b, as: UTF8.self).utf16
        return left.lexicographicallyPrecedes(right)
    }

    private mutating func parseValue() throws(Failure) -> RawValue {
        switch current ?? 0 {
        case UInt8(ascii: "\""):
            let range = try scanString()
            return .string(UnsafeRawBufferPointer(rebasing: bytes[range]))
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .integer(try parseInteger())
        default:
            throw fail("expected a string, integer or boolean (objects, arrays, null and floats are not allowed)")
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let length = word.utf8CodeUnitCount
        guard position + length <= bytes.count else { throw fail("truncated literal") }
        for offset in 0..<length where bytes[position + offset] != word.utf8Start[offset] {
            throw fail("invalid literal")
        }
        position += length
    }

    private mutating func parseInteger() throws(Failure) -> Int64 {
        let start = position
        let negative = current == UInt8(ascii: "-")
        if negative { position += 1 }
        let digitsStart = position
        while let c = current, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { position += 1 }
        let digits = position - digitsStart
        guard digits > 0 else { throw fail("expected digits") }
        if bytes[digitsStart] == UInt8(ascii: "0") && (digits > 1 || negative) {
            position = start
            throw fail("leading zero or -0 is not canonical")
        }
        if let c = current, c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
            throw fail("fractions and exponents are not allowed")
        }
        var magnitude: UInt64 = 0
        for offset in digitsStart..<position {
            let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(bytes[offset] - UInt8(ascii: "0")))
            if o1 || o2 { throw fail("integer out of range") }
            magnitude = s
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { throw fail("integer out of range") }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { throw fail("integer out of range") }
        return Int64(magnitude)
    }

    /// Scans a string and returns the range of its raw (still escaped) contents, checking canonical escaping.
    private mutating func scanString() throws(Failure) -> Range<Int> {
        try expect(UInt8(ascii: "\""), "'\"'")
        let start = position
        var sawNonASCII = false
        let count = bytes.count
        guard let base = bytes.baseAddress else { throw fail("unterminated string") }
        while position < count {
            // The common case first, in locals so it stays in registers: a run of plain printable bytes.
            var cursor = position
            var high: UInt8 = 0
            while cursor < count {
                let byte = base.load(fromByteOffset: cursor, as: UInt8.self)
                if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { break }
                high |= byte
                cursor += 1
            }
            if high >= 0x80 { sawNonASCII = true }
            position = cursor
            guard position < count else { break }
            let c = base.load(fromByteOffset: position, as: UInt8.self)
            if c == UInt8(ascii: "\"") {
                let range = start..<position
                position += 1
                if sawNonASCII {
                    let raw = UnsafeRawBufferPointer(rebasing: bytes[range])
                    guard String(validating: raw, as: UTF8.self) != nil else {
                        position = start
                        throw fail("invalid UTF-8")
                    }
                }
                return range
            }
            if c < 0x20 { throw fail("unescaped control character") }
            try scanEscape()
        }
        throw fail("unterminated string")
    }

    /// Checks one escape sequence at `position` (a backslash) and moves past it.
    private mutating func scanEscape() throws(Failure) {
        position += 1
        guard let escaped = current else { throw fail("unterminated escape") }
        switch escaped {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "b"), UInt8(ascii: "t"),
            UInt8(ascii: "n"), UInt8(ascii: "f"), UInt8(ascii: "r"):
            position += 1
        case UInt8(ascii: "u"):
            // Canonical form uses \u00xx (lowercase hex) only for control characters without a short form.
            guard position + 5 <= bytes.count, bytes[position + 1] == UInt8(ascii: "0"),
                bytes[position + 2] == UInt8(ascii: "0")
            else { throw fail("non-canonical \\u escape") }
            let high = bytes[position + 3]
            let low = bytes[position + 4]
            guard high == UInt8(ascii: "0") || high == UInt8(ascii: "1"), let lowValue = Self.lowerHex(low) else {
                throw fail("non-canonical \\u escape")
            }
            let value = (high - UInt8(ascii: "0")) << 4 | lowValue
            if [0x08, 0x09, 0x0A, 0x0C, 0x0D].contains(value) {
                throw fail("non-canonical \\u escape (a short escape exists)")
            }
            position += 5
        default:
            throw fail("non-canonical escape")
        }
    }

    private static func lowerHex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    /// Decodes the escapes of a string already checked by `scanString`.
    static func unescape(_ raw: UnsafeRawBufferPointer) -> String {
        guard raw.contains(UInt8(ascii: "\\")) else { return String(decoding: raw, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var index = 0
        while index < raw.count {
            let c = raw[index]
            guard c == UInt8(ascii: "\\") else {
                out.append(c)
                index += 1
                continue
            }
            let e = raw[index + 1]
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "u"):
                out.append((raw[index + 4] - UInt8(ascii: "0")) << 4 | (lowerHex(raw[index + 5]) ?? 0))
                index += 6
                continue
            default: out.append(e)
            }
            index += 2
        }
        return String(decoding: out, as: UTF8.self)
    }
}
