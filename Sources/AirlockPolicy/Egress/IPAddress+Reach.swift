extension IPAddress {
    /// The address a TCP `connect()` to this one reaches on Linux: an IPv4-mapped IPv6 address is its IPv4
    /// address (dual-stack sockets), and the unspecified addresses `0.0.0.0` and `::` are loopback (the kernel
    /// routes a connection to "any" to 127.0.0.1 or ::1).
    public var connectedAddress: IPAddress {
        if case .v6(let b) = self, b[0..<10].allSatisfy({ $0 == 0 }), b[10] == 0xFF, b[11] == 0xFF {
            return IPAddress.v4(UInt32(b[12]) << 24 | UInt32(b[13]) << 16 | UInt32(b[14]) << 8 | UInt32(b[15]))
                .connectedAddress
        }
        switch self {
        case .v4(0): return .v4(0x7F00_0001)
        case .v6(let b) where b.allSatisfy({ $0 == 0 }): return .v6([UInt8](repeating: 0, count: 15) + [1])
        default: return self
        }
    }

    /// Whether a connection to this address stays on this host's loopback (127.0.0.0/8, ::1, or a spelling of them).
    public var isLoopbackDestination: Bool {
        switch connectedAddress {
        case .v4(let a): return a >> 24 == 127
        case .v6(let b): return b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1
        }
    }

    /// Whether connecting to this address can reach a service bound to `other`. Every loopback destination
    /// counts as every other: a service bound to the wildcard address answers on all of them, and which
    /// address a local service bound is not written in the configuration.
    public func reaches(_ other: IPAddress) -> Bool {
        if isLoopbackDestination && other.isLoopbackDestination { return true }
        return connectedAddress == other.connectedAddress
    }
}
