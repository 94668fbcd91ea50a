/// Decoding the contents of a string the scanner accepted (the bytes between the quotes).
public enum JSONStringContents {
    /// The text of validated string contents; nil if they are not (an escape cut short, a lone surrogate).
    public static func decode(_ raw: UnsafeRawBufferPointer) -> String? {
        decode(raw[...])
    }

    static func decode<Bytes: RandomAccessCollection<UInt8>>(_ inner: Bytes) -> String? where Bytes.Index == Int {
        guard inner.contains(UInt8(ascii: "\\")) else { return String(decoding: inner, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(inner.count)
        var i = inner.startIndex
        while i < inner.endIndex {
            let b = inner[i]
            guard b == UInt8(ascii: "\\") else {
                out.append(b)
                i += 1
                continue
            }
            guard i + 1 < inner.endIndex else { return nil }
            let e = inner[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                guard var scalar = unit(inner, at: i) else { return nil }
                i += 4
                if (0xDC00..<0xE000).contains(scalar) { return nil }
                if (0xD800..<0xDC00).contains(scalar) {
                    guard i + 1 < inner.endIndex, inner[i] == UInt8(ascii: "\\"), inner[i + 1] == UInt8(ascii: "u"),
                        let low = unit(inner, at: i + 2), (0xDC00..<0xE000).contains(low)
                    else { return nil }
                    i += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let value = Unicode.Scalar(scalar) else { return nil }
                UTF8.encode(value) { out.append($0) }
            default: out.append(e)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func unit<Bytes: RandomAccessCollection<UInt8>>(_ inner: Bytes, at i: Int) -> UInt32?
    where Bytes.Index == Int {
        guard i + 4 <= inner.endIndex else { return nil }
        var unit: UInt32 = 0
        for j in i..<(i + 4) {
            guard let digit = hexDigit(inner[j]) else { return nil }
            unit = unit << 4 | UInt32(digit)
        }
        return unit
    }
}
