#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy
import NIOCore
import NIOPosix

/// Resolves egress names itself, so the address that was checked is the address that is connected to
/// (no second lookup, no DNS-rebinding window). Fixed answers from configuration come first.
struct EgressResolver: Sendable {
    let fixed: [String: IPAddress]
    let pool: NIOThreadPool

    init(settings: EgressSettings, pool: NIOThreadPool = .singleton) {
        var fixed: [String: IPAddress] = [:]
        for (name, address) in settings.resolve {
            if let parsed = IPAddress.parse(address) { fixed[name.lowercased()] = parsed }
        }
        self.fixed = fixed
        self.pool = pool
    }

    /// Every address `name` resolves to (TCP), in resolver order.
    func resolve(_ name: String) async throws -> [IPAddress] {
        if let address = fixed[name] { return [address] }
        return try await pool.runIfActive {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_family = AF_UNSPEC
            var result: UnsafeMutablePointer<addrinfo>?
            let rc = getaddrinfo(name, nil, &hints, &result)
            guard rc == 0, let first = result else {
                throw EgressResolutionError(name: name, reason: String(cString: gai_strerror(rc)))
            }
            defer { freeaddrinfo(first) }
            var addresses: [IPAddress] = []
            var cursor: UnsafeMutablePointer<addrinfo>? = first
            while let entry = cursor {
                if entry.pointee.ai_family == AF_INET, let sa = entry.pointee.ai_addr {
                    let bytes = sa.withMemoryRebound(to: UInt8.self, capacity: 8) { Array(UnsafeBufferPointer(start: $0 + 4, count: 4)) }
                    addresses.append(.v4(UInt32(bytes[0]) << 24 | UInt32(bytes[1]) << 16 | UInt32(bytes[2]) << 8 | UInt32(bytes[3])))
                } else if entry.pointee.ai_family == AF_INET6, let sa = entry.pointee.ai_addr {
                    addresses.append(.v6(sa.withMemoryRebound(to: UInt8.self, capacity: 24) { Array(UnsafeBufferPointer(start: $0 + 8, count: 16)) }))
                }
                cursor = entry.pointee.ai_next
            }
            var seen = Set<IPAddress>()
            return addresses.filter { seen.insert($0).inserted }
        }
    }
}

struct EgressResolutionError: Error, CustomStringConvertible {
    var name: String
    var reason: String
    var description: String { "cannot resolve \(name): \(reason)" }
}

extension IPAddress {
    func socketAddress(port: Int) throws -> SocketAddress {
        switch self {
        case .v4: return try SocketAddress(ipAddress: description, port: port)
        case .v6: return try SocketAddress(ipAddress: description, port: port)
        }
    }
}
