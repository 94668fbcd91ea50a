/// Writes flat JSON objects in the canonical form of RFC 8785 (JSON Canonicalization Scheme):
/// members sorted by the UTF-16 code units of their names, no whitespace, strings with the minimal escaping of
/// RFC 8785 section 3.2.2.2, integers as plain decimal.
///
/// Integers beyond ±2^53 are written exactly (RFC 8785 would first round them to an IEEE 754 double); receipt
/// verifiers hash stored bytes and never re-serialise, so this only matters to someone re-canonicalising a record
/// with a general-purpose JCS library. `docs/receipts.md` states this.
enum CanonicalJSON {
    /// Encodes `members` (names need not be sorted; they must be unique).
    static func encode(_ members: [(String, ReceiptValue)]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        let sorted = canonicallyOrdered(members)
        out.append(UInt8(ascii: "{"))
        for (position, (name, value)) in sorted.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            appendString(name, to: &out)
            out.append(UInt8(ascii: ":"))
            appendValue(value, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Encodes `members` plus a member named `slot` whose value is filled in later: the value goes between the
    /// returned `prefix` and `suffix`. Lets the log assign the record index at the last moment.
    static func encodeTemplate(_ members: [(String, ReceiptValue)], slot: String) -> (prefix: [UInt8], suffix: [UInt8]) {
        var all = members
        all.append((slot, .integer(0)))
        let sorted = canonicallyOrdered(all)
        var prefix: [UInt8] = [UInt8(ascii: "{")]
        prefix.reserveCapacity(512)
        var suffix: [UInt8] = []
        suffix.reserveCapacity(512)
        var afterSlot = false
        for (position, (name, value)) in sorted.enumerated() {
            if position > 0 {
                if afterSlot { suffix.append(UInt8(ascii: ",")) } else { prefix.append(UInt8(ascii: ",")) }
            }
            if name == slot {
                appendString(name, to: &prefix)
                prefix.append(UInt8(ascii: ":"))
                afterSlot = true
                continue
            }
            if afterSlot {
                appendString(name, to: &suffix)
                suffix.append(UInt8(ascii: ":"))
                appendValue(value, to: &suffix)
            } else {
                appendString(name, to: &prefix)
                prefix.append(UInt8(ascii: ":"))
                appendValue(value, to: &prefix)
            }
        }
        suffix.append(UInt8(ascii: "}"))
        return (prefix, suffix)
    }

    /// Sorts members by the UTF-16 code units of their names (RFC 8785 section 3.2.3). ASCII names, the usual
    /// case, compare the same as bytes, which is much cheaper.
    static func canonicallyOrdered(_ members: [(String, ReceiptValue)]) -> [(String, ReceiptValue)] {
        if members.allSatisfy({ $0.0.utf8.allSatisfy { $0 < 0x80 } }) {
            return members.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
        }
        return members.sorted { $0.0.utf16.lexicographicallyPrecedes($1.0.utf16) }
    }

    static func appendValue(_ value: ReceiptValue, to out: inout [UInt8]) {
        switch value {
        case .string(let string): appendString(string, to: &out)
        case .integer(let integer): out.append(contentsOf: String(integer).utf8)
        case .bool(let bool): out.append(contentsOf: (bool ? "true" : "false").utf8)
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func appendString(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var string = string
        let plain = string.withUTF8 { utf8 in
            guard !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
                return false
            }
            out.append(contentsOf: utf8)
            return true
        }
        if plain {
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x00..<0x20:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0f)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
