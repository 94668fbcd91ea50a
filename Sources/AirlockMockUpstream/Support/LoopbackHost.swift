import NIOCore

/// Decides whether a listen address is loopback-only; the mock never listens on anything else.
enum LoopbackHost {
    /// True for `localhost`, any `127.0.0.0/8` address and `::1`.
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" {
            return true
        }
        let literal = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        guard let address = try? SocketAddress(ipAddress: literal, port: 0) else {
            return false
        }
        switch address {
        case .v4:
            return address.ipAddress?.hasPrefix("127.") ?? false
        case .v6:
            return address.ipAddress == "::1"
        case .unixDomainSocket:
            return false
        }
    }
}
