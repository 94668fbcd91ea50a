import AirlockEgressGuard
import Testing

@Suite("--allow parsing")
struct AllowParsingTests {
    @Test(arguments: [
        ("127.0.0.1:8443", AllowedEndpoint.Family.ipv4, "127.0.0.1", UInt16(8443)),
        ("127.1.2.3:1", .ipv4, "127.1.2.3", 1),
        ("127.255.255.255:65535", .ipv4, "127.255.255.255", 65535),
        ("[::1]:3128", .ipv6, "::1", 3128),
        ("[0:0:0:0:0:0:0:1]:443", .ipv6, "::1", 443),
        ("[::0001]:443", .ipv6, "::1", 443),
    ])
    func accepts(input: String, family: AllowedEndpoint.Family, address: String, port: UInt16) throws {
        let endpoint = try AllowedEndpoint(parsing: input)
        #expect(endpoint.family == family)
        #expect(endpoint.address == address)
        #expect(endpoint.port == port)
    }

    /// Each bad input and a fragment of the reason the operator must see.
    @Test(arguments: [
        ("localhost:8443", "hostnames are refused"),
        ("router.internal:8443", "hostnames are refused"),
        ("10.0.0.1:8443", "not a loopback address"),
        ("0.0.0.0:8443", "not a loopback address"),
        ("169.254.169.254:80", "not a loopback address"),
        ("127.0.0.1", "missing ':PORT'"),
        ("127.0.0.1:", "missing port"),
        ("127.0.0.1:0", "outside 1...65535"),
        ("127.0.0.1:65536", "outside 1...65535"),
        ("127.0.0.1:99999", "outside 1...65535"),
        ("127.0.0.1:-1", "not a decimal number"),
        ("127.0.0.1:+80", "not a decimal number"),
        ("127.0.0.1:http", "not a decimal number"),
        ("127.0.0.1:123456", "not a decimal number"),
        ("0177.0.0.1:80", "not an IPv4 literal"),
        ("127.1:80", "not an IPv4 literal"),
        ("2130706433:80", "not an IPv4 literal"),
        ("127.0.0.256:80", "not an IPv4 literal"),
        ("127.0.0.1.:80", "not an IPv4 literal"),
        ("::1:8443", "must be written in brackets"),
        ("[::1]", "expected ':PORT'"),
        ("[::1]8443", "expected ':PORT'"),
        ("[::1:8443", "missing ']'"),
        ("[::1]:0", "outside 1...65535"),
        ("[:::1]:80", "not an IPv6 literal"),
        ("[::1%lo]:80", "not an IPv6 literal"),
        ("[::g]:80", "not an IPv6 literal"),
        ("[]:80", "not an IPv6 literal"),
        ("[localhost]:80", "not an IPv6 literal"),
        ("[::2]:80", "not the IPv6 loopback"),
        ("[fe80::1]:80", "not the IPv6 loopback"),
        ("[::]:80", "not the IPv6 loopback"),
        ("[::ffff:127.0.0.1]:80", "IPv4-mapped IPv6 is refused"),
        ("", "missing ':PORT'"),
    ])
    func refuses(input: String, reason: String) {
        #expect {
            try AllowedEndpoint(parsing: input)
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("invalid --allow \"\(input)\": ") && text.contains(reason)
        }
    }

    @Test func descriptionRoundTrips() throws {
        for input in ["127.0.0.1:8443", "[::1]:8443"] {
            #expect(try AllowedEndpoint(parsing: input).description == input)
        }
    }
}
