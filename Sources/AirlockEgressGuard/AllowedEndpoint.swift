#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One loopback TCP endpoint the confined UID may connect to, parsed from `--allow`.
///
/// Only IP literals are accepted, and only loopback ones: the guard must not depend on DNS (that is exactly what it
/// blocks), and opening a non-loopback address would let the agent bypass the router.
public struct AllowedEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// IPv4 or IPv6.
    public enum Family: String, Sendable {
        case ipv4
        case ipv6
    }

    /// The address family; decides whether the rule matches `ip daddr` or `ip6 daddr`.
    public let family: Family
    /// The address in the canonical spelling `nft list` prints (e.g. `::1`, never `0:0:0:0:0:0:0:1`).
    public let address: String
    /// The TCP port, 1...65535.
    public let port: UInt16

    /// Parses `127.0.0.1:8443` or `[::1]:8443`.
    ///
    /// Refused, each with a reason: hostnames, addresses outside 127.0.0.0/8 and ::1, unbracketed IPv6,
    /// IPv4-mapped IPv6 (its packets are IPv4, so an `ip6` rule would never match), zone ids, a missing port,
    /// and ports outside 1...65535.
    public init(parsing input: String) throws(EgressGuardError) {
        func fail(_ reason: String) -> EgressGuardError { .invalidAllow(input: input, reason: reason) }

        let hostPart: Substring
        let portPart: Substring
        if input.hasPrefix("[") {
            guard let close = input.firstIndex(of: "]") else { throw fail("missing ']' after the IPv6 address") }
            hostPart = input[input.index(after: input.startIndex)..<close]
            let rest = input[input.index(after: close)...]
            guard rest.hasPrefix(":") else { throw fail("expected ':PORT' after ']'") }
            portPart = rest.dropFirst()
            family = .ipv6
        } else {
            let colons = input.filter { $0 == ":" }.count
            if colons > 1 { throw fail("IPv6 addresses must be written in brackets, e.g. [::1]:8443") }
            guard let colon = input.firstIndex(of: ":") else { throw fail("missing ':PORT'") }
            hostPart = input[..<colon]
            portPart = input[input.index(after: colon)...]
            family = .ipv4
        }

        port = try Self.parsePort(portPart, fail: fail)
        switch family {
        case .ipv4:
            guard let octets = Self.parseIPv4(hostPart) else {
                throw fail(
                    "\"\(hostPart)\" is not an IPv4 literal; hostnames are refused (the guard must not depend on DNS)")
            }
            guard octets[0] == 127 else { throw fail("\(hostPart) is not a loopback address (127.0.0.0/8)") }
            address = octets.map(String.init).joined(separator: ".")
        case .ipv6:
            guard let bytes = Self.parseIPv6(hostPart) else {
                throw fail("\"\(hostPart)\" is not an IPv6 literal (zone ids and hostnames are refused)")
            }
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
                throw fail("IPv4-mapped IPv6 is refused: write the IPv4 form, e.g. 127.0.0.1:\(port)")
            }
            guard bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 else {
                throw fail("\(hostPart) is not the IPv6 loopback address ::1")
            }
            address = "::1"
        }
    }

    /// `127.0.0.1:8443` or `[::1]:8443`, the same form `init(parsing:)` accepts.
    public var description: String {
        family == .ipv6 ? "[\(address)]:\(port)" : "\(address):\(port)"
    }

    private static func parsePort(
        _ text: Substring,
        fail: (String) -> EgressGuardError
    ) throws(EgressGuardError) -> UInt16 {
        guard !text.isEmpty else { throw fail("missing port after ':'") }
        guard text.count <= 5, text.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(text) else {
            throw fail("port \"\(text)\" is not a decimal number in 1...65535")
        }
        guard (1...65535).contains(value) else { throw fail("port \(value) is outside 1...65535") }
        return UInt16(value)
    }

    /// Strict dotted quad: exactly four decimal octets, no leading zeros (which some parsers read as octal).
    static func parseIPv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var octets: [UInt8] = []
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            if part.count > 1 && part.hasPrefix("0") { return nil }
            guard let value = UInt8(part) else { return nil }
            octets.append(value)
        }
        return octets
    }

    /// inet_pton is strict (no zone ids, no embedded junk) and saves writing an IPv6 grammar by hand.
    static func parseIPv6(_ text: Substring) -> [UInt8]? {
        var storage = in6_addr()
        let ok = String(text).withCString { inet_pton(AF_INET6, $0, &storage) }
        guard ok == 1 else { return nil }
        return withUnsafeBytes(of: storage) { Array($0) }
    }
}
