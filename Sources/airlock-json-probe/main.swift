import AirlockJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// Reads documents from standard input, each as a 4-byte big-endian length and that many bytes, and answers each with
// one line: `ok <value>` or `error <offset> <message>`. A value is written so that any two decoders can be compared
// exactly: n, t, f; d<number as written>, ; s<UTF-8 of the text in hex>, ; [values] ; {s<key>,<value>...}.
// For tests/python/test_json_fuzz.py, which runs the same documents through a strict reference.

func render(_ value: JSONValue, into out: inout [UInt8]) {
    switch value.kind {
    case .null: out.append(UInt8(ascii: "n"))
    case .bool(let flag): out.append(UInt8(ascii: flag ? "t" : "f"))
    case .number(let text):
        out.append(UInt8(ascii: "d"))
        out += text.utf8
        out.append(UInt8(ascii: ","))
    case .string(let text): render(text, into: &out)
    case .array(let elements):
        out.append(UInt8(ascii: "["))
        for element in elements { render(element, into: &out) }
        out.append(UInt8(ascii: "]"))
    case .object(let members):
        out.append(UInt8(ascii: "{"))
        for member in members {
            render(member.key, into: &out)
            render(member.value, into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }
}

func render(_ text: String, into out: inout [UInt8]) {
    let digits = Array("0123456789abcdef".utf8)
    out.append(UInt8(ascii: "s"))
    for byte in text.utf8 {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    out.append(UInt8(ascii: ","))
}

func readExactly(_ count: Int) -> [UInt8]? {
    var buffer = [UInt8](repeating: 0, count: count)
    var filled = 0
    while filled < count {
        let got = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress! + filled, count - filled) }
        if got < 0 && errno == EINTR { continue }
        guard got > 0 else { return nil }
        filled += got
    }
    return buffer
}

func writeAll(_ bytes: [UInt8]) {
    var sent = 0
    while sent < bytes.count {
        let wrote = bytes.withUnsafeBytes { write(1, $0.baseAddress! + sent, bytes.count - sent) }
        if wrote < 0 && errno == EINTR { continue }
        guard wrote > 0 else { exit(1) }
        sent += wrote
    }
}

while let header = readExactly(4) {
    let length = header.reduce(0) { $0 << 8 | Int($1) }
    guard let document = length == 0 ? [] : readExactly(length) else { break }
    var line: [UInt8]
    do {
        let value = try JSONReader.parse(document, allowingByteOrderMark: false)
        line = Array("ok ".utf8)
        render(value, into: &line)
    } catch {
        line = Array("error \(error.offset) \(error.message)".utf8).map { $0 == 0x0A ? 0x20 : $0 }
    }
    line.append(0x0A)
    writeAll(line)
}
