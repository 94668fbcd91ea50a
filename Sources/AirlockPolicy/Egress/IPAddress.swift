#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address, parsed from every spelling a URL or a resolver may produce, and classified.
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    case v4(UInt32)
    /// Sixteen bytes, network order.
    case v6([UInt8])

    /// Parses an IP literal: dotted IPv4 in decimal, octal (`0177.0.0.1`), hex (`0x7f.1`) and short forms
    /// (`127.1`, `2130706433`) as `inet_aton` reads them, and IPv6 with or without brackets, with an
    /// embedded IPv4 tail, in any case. Returns nil for anything that is not an address (a host name).
    public static func parse(_ text: String) -> IPAddress? {
        var literal = Substring(text)
        if literal.hasPrefix("["), literal.hasSuffix("]") {
            literal = literal.dropFirst().dropLast()
        }
        if literal.contains(":") {
            // A zone index (%eth0) never names an address we would connect to through DNS rules.
            guard !literal.contains("%") else { return nil }
            var v6 = in6_addr()
            guard inet_pton(AF_INET6, String(literal), &v6) == 1 else { return nil }
            return .v6(withUnsafeBytes(of: v6) { Array($0) })
        }
        guard !literal.isEmpty, literal.allSatisfy({ $0.isASCII && ($0.isHexDigit || $0 == "." || $0 == "x" || $0 == "X") }),
            literal.first!.isNumber
        else { return nil }
        var v4 = in_addr()
        guard inet_aton(String(literal), &v4) != 0 else { return nil }
        return .v4(UInt32(bigEndian: v4.s_addr))
    }

    public var description: String {
        switch self {
        case .v4(let value):
            return "\(value >> 24).\((value >> 16) & 0xFF).\((value >> 8) & 0xFF).\(value & 0xFF)"
        case .v6(let bytes):
            var addr = in6_addr()
            withUnsafeMutableBytes(of: &addr) { $0.copyBytes(from: bytes) }
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            inet_ntop(AF_INET6, &addr, &buffer, socklen_t(buffer.count))
            return String(cString: buffer)
        }
    }

    /// The IPv4 address an IPv6 address carries, for forms that reach IPv4 hosts: IPv4-mapped
    /// (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
    public var embeddedIPv4: UInt32? {
        guard case .v6(let b) = self else { return nil }
        func v4(_ at: Int) -> UInt32 {
            UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
        }
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF { return v4(12) }
        if b[0..<12].allSatisfy({ $0 == 0 }) && !(b[12..<15].allSatisfy({ $0 == 0 }) && b[15] <= 1) { return v4(12) }
        if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B && b[4..<12].allSatisfy({ $0 == 0 }) { return v4(12) }
        if b[0] == 0x20 && b[1] == 0x02 { return v4(2) }
        return nil
    }

    /// Why this address must not be reached from a sandbox unless a policy names it, or nil for an
    /// ordinary public address.
    public var restriction: String? {
        switch self {
        case .v4(let a):
            return Self.restriction(v4: a)
        case .v6(let b):
            if let inner = embeddedIPv4, let why = Self.restriction(v4: inner) {
                return "\(why) (inside an IPv6 address)"
            }
            if b.allSatisfy({ $0 == 0 }) { return "unspecified" }
            if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return "loopback" }
            if b[0] & 0xFE == 0xFC { return b[0] == 0xFD && b[1] == 0x00 && b[2] == 0x0E && b[3] == 0xC2 ? "cloud metadata" : "unique local (private)" }
            if b[0] == 0xFE && b[1] & 0xC0 == 0x80 { return "link-local" }
            if b[0] == 0xFE && b[1] & 0xC0 == 0xC0 { return "site-local" }
            if b[0] == 0xFF { return "multicast" }
            if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8 { return "documentation" }
            if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00 { return "Teredo (hides an IPv4 address)" }
            if b[0] == 0x01 && b[1] == 0x00 && b[2..<8].allSatisfy({ $0 == 0 }) { return "discard" }
            if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B { return "NAT64 local use" }
            if b[0..<10].allSatisfy({ $0 == 0 }) { return "reserved IPv4-embedding form" }
            return nil
        }
    }

    private static func restriction(v4 a: UInt32) -> String? {
        func within(_ base: UInt32, _ bits: UInt32) -> Bool { a >> (32 - bits) == base >> (32 - bits) }
        if a == 0xA9FE_A9FE { return "cloud metadata" }
        if within(0x0000_0000, 8) { return "unspecified (\"this network\")" }
        if within(0x7F00_0000, 8) { return "loopback" }
        if within(0x0A00_0000, 8) || within(0xAC10_0000, 12) || within(0xC0A8_0000, 16) { return "private" }
        if within(0x6440_0000, 10) { return "carrier-grade NAT" }
        if within(0xA9FE_0000, 16) { return "link-local" }
        if within(0xC000_0000, 24) { return "IETF protocol assignments" }
        if within(0xC000_0200, 24) || within(0xC633_6400, 24) || within(0xCB00_7100, 24) { return "documentation" }
        if within(0xC612_0000, 15) { return "benchmarking" }
        if within(0xE000_0000, 4) { return "multicast" }
        if within(0xF000_0000, 4) { return "reserved or broadcast" }
        return nil
    }
}
