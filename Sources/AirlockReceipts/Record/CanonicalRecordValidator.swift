#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The fields of a record the verifier needs, found while checking its canonical form. Strings are the raw (still
/// escaped) bytes inside the record, so nothing is allocated.
struct RecordFields {
    /// The first way the record breaks the schema of ``RecordSchema`` (name, type or value), if any.
    struct Violation {
        let reason: VerificationFailure.Reason
        /// The member's name, raw.
        let name: UnsafeRawBufferPointer
        /// What is wrong with it, completing "field 'name' …".
        let problem: String
    }

    var version: Int64?
    var index: Int64?
    var time: Int64?
    var requestIndex: Int64?
    var origin: UnsafeRawBufferPointer?
    var kind: UnsafeRawBufferPointer?
    var reason: UnsafeRawBufferPointer?
    var keys: UnsafeRawBufferPointer?
    /// The last member whose value has the wrong type.
    var wrongType: UnsafeRawBufferPointer?
    var violation: Violation?

    mutating func violate(_ reason: VerificationFailure.Reason, _ name: UnsafeRawBufferPointer, _ problem: String) {
        if violation == nil { violation = Violation(reason: reason, name: name, problem: problem) }
    }
}

/// The verifier's single-pass check that a record is in canonical form: a flat object without whitespace, member
/// names strictly increasing, minimal string escapes, valid UTF-8, integers without leading zeros, exponent, fraction
/// or `-0`, only strings, integers and booleans. Canonical form is a subset of strict RFC 8259 JSON: every record it
/// accepts, ``JSONReader`` reads with the same members (FastPathTests compares the two).
///
/// Built for speed: one forward pass over raw bytes with no allocation, no `String`, no closures and no throwing;
/// plain string runs are scanned eight bytes at a time; names are compared with the previous name in place.
enum CanonicalRecordValidator {
    struct Failure: Error, Equatable {
        let offset: Int
        let reason: String
    }

    /// Failure reasons, by code (0 is success). The helpers return a code so that the hot path moves no strings.
    private static let reasons: [String] = [
        "",
        "unterminated string",
        "invalid UTF-8",
        "unescaped control character",
        "unterminated escape",
        "non-canonical \\u escape",
        "non-canonical \\u escape (a short escape exists)",
        "non-canonical escape",
        "expected digits",
        "leading zero or -0 is not canonical",
        "fractions and exponents are not allowed",
        "integer out of range",
    ]

    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    /// Checks `bytes` and fills `fields`; returns the first violation, or nil if the record is canonical.
    static func validate(_ bytes: UnsafeRawBufferPointer, into fields: inout RecordFields) -> Failure? {
        let n = bytes.count
        guard n > 0, let base = bytes.baseAddress else { return Failure(offset: 0, reason: "expected '{'") }
        let p = base.assumingMemoryBound(to: UInt8.self)
        guard p[0] == UInt8(ascii: "{") else { return Failure(offset: 0, reason: "expected '{'") }
        var i = 1
        if i < n && p[i] == UInt8(ascii: "}") {
            i += 1
            return i == n ? nil : Failure(offset: i, reason: "trailing bytes after the object")
        }
        var previousStart = -1
        var previousCount = 0
        var previousHigh: UInt64 = 0
        while true {
            // The member name.
            let nameStart = i
            guard i < n, p[i] == UInt8(ascii: "\"") else { return Failure(offset: i, reason: "expected '\"'") }
            i += 1
            var high: UInt64 = 0
            let nameBegin = i
            var at = 0
            if case let code = scanStringBody(p, n, &i, &high, &at), code != 0 {
                return Failure(offset: at, reason: reasons[code])
            }
            let nameCount = i - nameBegin
            i += 1  // the closing quote
            if previousStart >= 0 {
                let inOrder: Bool
                if (previousHigh | high) & highs == 0 {
                    inOrder = asciiPrecedes(p + previousStart, previousCount, p + nameBegin, nameCount)
                } else {
                    inOrder = generalPrecedes(
                        UnsafeRawBufferPointer(start: p + previousStart, count: previousCount),
                        UnsafeRawBufferPointer(start: p + nameBegin, count: nameCount)
                    )
                }
                if !inOrder { return Failure(offset: nameStart, reason: "member names are not unique and sorted") }
            }
            previousStart = nameBegin
            previousCount = nameCount
            previousHigh = high
            guard i < n, p[i] == UInt8(ascii: ":") else {
                return Failure(offset: i, reason: "expected ':' (no whitespace allowed)")
            }
            i += 1

            // The value.
            let nameRaw = UnsafeRawBufferPointer(start: p + nameBegin, count: nameCount)
            let member = RecordSchema.member(p + nameBegin, nameCount)
            if member == nil {
                if RecordSchema.isWellFormedName(nameRaw) {
                    fields.violate(.unknownField, nameRaw, "is not a member of format version 1")
                } else {
                    fields.violate(
                        .invalidFieldName,
                        nameRaw,
                        "is not a member name ([a-z][a-z0-9_]*, at most \(RecordSchema.maxNameBytes) bytes)"
                    )
                }
            }
            guard i < n else {
                return Failure(
                    offset: i,
                    reason: "expected a string, integer or boolean (objects, arrays, null and floats are not allowed)"
                )
            }
            let c = p[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                let valueBegin = i
                var valueHigh: UInt64 = 0
                var at = 0
                if case let code = scanStringBody(p, n, &i, &valueHigh, &at), code != 0 {
                    return Failure(offset: at, reason: reasons[code])
                }
                let raw = UnsafeRawBufferPointer(start: p + valueBegin, count: i - valueBegin)
                i += 1
                if let member {
                    if member.isString {
                        switch member {
                        case .origin: fields.origin = raw
                        case .kind: fields.kind = raw
                        case .reason: fields.reason = raw
                        case .keys: fields.keys = raw
                        default: break
                        }
                        if let problem = RecordSchema.stringProblem(member, raw) {
                            let tooLong =
                                raw.count > RecordSchema.maxStringBytes
                                && RecordSchema.unescapedCount(raw) > RecordSchema.maxStringBytes
                            fields.violate(tooLong ? .stringTooLong : .invalidValue, nameRaw, problem)
                        }
                    } else {
                        fields.wrongType = nameRaw
                        fields.violate(.wrongType, nameRaw, "is a string, not an integer")
                    }
                }
            } else if c == UInt8(ascii: "-") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) {
                var value: Int64 = 0
                var at = 0
                if case let code = scanInteger(p, n, &i, &value, &at), code != 0 {
                    return Failure(offset: at, reason: reasons[code])
                }
                if let member {
                    if member.isString {
                        fields.wrongType = nameRaw
                        fields.violate(.wrongType, nameRaw, "is an integer, not a string")
                    } else {
                        switch member {
                        case .v: fields.version = value
                        case .index: fields.index = value
                        case .time: fields.time = value
                        case .requestIndex: fields.requestIndex = value
                        default: break
                        }
                        if let problem = RecordSchema.integerProblem(member, value) {
                            fields.violate(.invalidValue, nameRaw, problem)
                        }
                    }
                }
            } else if c == UInt8(ascii: "t") || c == UInt8(ascii: "f") {
                let length = c == UInt8(ascii: "t") ? 4 : 5
                guard i + length <= n else { return Failure(offset: i, reason: "truncated literal") }
                let word: StaticString = c == UInt8(ascii: "t") ? "true" : "false"
                if memcmp(p + i, word.utf8Start, length) != 0 { return Failure(offset: i, reason: "invalid literal") }
                i += length
                if member != nil {
                    fields.wrongType = nameRaw
                    fields.violate(.wrongType, nameRaw, "is a boolean; records hold no booleans")
                }
            } else {
                return Failure(
                    offset: i,
                    reason: "expected a string, integer or boolean (objects, arrays, null and floats are not allowed)"
                )
            }

            // The separator.
            if i < n && p[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            guard i < n, p[i] == UInt8(ascii: "}") else { return Failure(offset: i, reason: "expected ',' or '}'") }
            i += 1
            break
        }
        return i == n ? nil : Failure(offset: i, reason: "trailing bytes after the object")
    }

    @inline(__always)
    private static func asciiPrecedes(_ a: UnsafePointer<UInt8>, _ ac: Int, _ b: UnsafePointer<UInt8>, _ bc: Int) -> Bool {
        let common = min(ac, bc)
        var k = 0
        while k < common {
            let x = a[k]
            let y = b[k]
            if x != y { return x < y }
            k += 1
        }
        return ac < bc
    }

    /// Names with non-ASCII bytes compared by UTF-16 code units (RFC 8785 section 3.2.3).
    private static func generalPrecedes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        let simple = !a.contains { $0 >= 0xEE } && !b.contains { $0 >= 0xEE }
        if simple {
            let common = min(a.count, b.count)
            let order = common == 0 ? 0 : memcmp(a.baseAddress!, b.baseAddress!, common)
            return order < 0 || (order == 0 && a.count < b.count)
        }
        let left = String(decoding: a, as: UTF8.self).utf16
        let right = String(decoding: b, as: UTF8.self).utf16
        return left.lexicographicallyPrecedes(right)
    }

    /// Scans string contents from `i` (just after the opening quote) to the closing quote, which `i` is left on.
    /// ORs every byte into `high` (only its 0x80 bits matter). Returns a reason code, 0 on success.
    ///
    /// The common case (plain ASCII up to the closing quote) stays small enough to inline; escapes, control
    /// characters and non-ASCII text go to `scanStringRest`.
    @inline(__always)
    private static func scanStringBody(
        _ p: UnsafePointer<UInt8>,
        _ n: Int,
        _ i: inout Int,
        _ high: inout UInt64,
        _ at: inout Int
    ) -> Int {
        var position = i
        // Plain bytes, eight at a time, up to a byte below 0x20, '"' or '\'. The lowest flagged byte is exactly the
        // first special one (false flags only appear above a true one), so the word tells where the run ends.
        while position + 8 <= n {
            let w = UInt64(littleEndian: UnsafeRawPointer(p + position).loadUnaligned(as: UInt64.self))
            let q = w ^ (ones &* 0x22)
            let b = w ^ (ones &* 0x5C)
            let flags = (((q &- ones) & ~q) | ((b &- ones) & ~b) | ((w &- ones &* 0x20) & ~w)) & highs
            if flags != 0 {
                let k = flags.trailingZeroBitCount >> 3
                let before = w & ((1 << UInt64(8 * k)) &- 1)
                if before & highs == 0 && p[position + k] == UInt8(ascii: "\"") {
                    i = position + k
                    return 0
                }
                break  // an escape, a control character or non-ASCII text: the general scan from this word on
            }
            if w & highs != 0 { break }
            position += 8
        }
        return scanStringRest(p, n, start: i, from: position, &i, &high, &at)
    }

    /// The general string scan from `from` on, for strings with escapes, control characters, non-ASCII bytes or
    /// fewer than eight bytes left in the record.
    @inline(never)
    private static func scanStringRest(
        _ p: UnsafePointer<UInt8>,
        _ n: Int,
        start: Int,
        from: Int,
        _ i: inout Int,
        _ high: inout UInt64,
        _ at: inout Int
    ) -> Int {
        var position = from
        var any: UInt64 = 0
        while true {
            while position < n {
                let c = p[position]
                if c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { break }
                any |= UInt64(c)
                position += 1
            }
            guard position < n else { at = position; return 1 }
            let c = p[position]
            if c == UInt8(ascii: "\"") {
                if any & highs != 0 {
                    let raw = UnsafeRawBufferPointer(start: p + start, count: position - start)
                    guard String(validating: raw, as: UTF8.self) != nil else {
                        at = start; return 2
                    }
                }
                high |= any
                i = position
                return 0
            }
            if c < 0x20 { at = position; return 3 }
            // An escape.
            position += 1
            guard position < n else { at = position; return 4 }
            switch p[position] {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "b"), UInt8(ascii: "t"),
                UInt8(ascii: "n"), UInt8(ascii: "f"), UInt8(ascii: "r"):
                position += 1
            case UInt8(ascii: "u"):
                guard position + 5 <= n, p[position + 1] == UInt8(ascii: "0"), p[position + 2] == UInt8(ascii: "0")
                else { at = position; return 5 }
                let h = p[position + 3]
                let l = p[position + 4]
                let lowValue: UInt8
                switch l {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): lowValue = l - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): lowValue = l - UInt8(ascii: "a") + 10
                default: at = position; return 5
                }
                guard h == UInt8(ascii: "0") || h == UInt8(ascii: "1") else {
                    at = position; return 5
                }
                let value = (h - UInt8(ascii: "0")) << 4 | lowValue
                if value == 0x08 || value == 0x09 || value == 0x0A || value == 0x0C || value == 0x0D {
                    at = position; return 6
                }
                position += 5
            default:
                at = position; return 7
            }
        }
    }

    /// Scans a canonical integer at `i` (a '-' or a digit).
    @inline(__always)
    private static func scanInteger(
        _ p: UnsafePointer<UInt8>,
        _ n: Int,
        _ i: inout Int,
        _ value: inout Int64,
        _ at: inout Int
    ) -> Int {
        let start = i
        var position = i
        let negative = p[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        let digitsStart = position
        var magnitude: UInt64 = 0
        while position < n {
            let d = p[position] &- UInt8(ascii: "0")
            if d > 9 { break }
            magnitude = magnitude &* 10 &+ UInt64(d)
            position += 1
        }
        let digits = position - digitsStart
        // Up to 19 digits cannot overflow a UInt64; 20 or more are out of the Int64 range in any case.
        let overflow = digits > 19
        guard digits > 0 else { at = position; return 8 }
        if p[digitsStart] == UInt8(ascii: "0") && (digits > 1 || negative) {
            at = start; return 9
        }
        if position < n {
            let c = p[position]
            if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                at = position; return 10
            }
        }
        if overflow { at = position; return 11 }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { at = position; return 11 }
            value = magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        } else {
            guard magnitude <= UInt64(Int64.max) else { at = position; return 11 }
            value = Int64(magnitude)
        }
        i = position
        return 0
    }
}
