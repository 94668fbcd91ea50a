#if canImport(Glibc)
import Glibc
#endif
import CAirlockLinux
import NIOCore

/// Asks the kernel who is on the other end of an accepted connection. Nothing the peer sends is consulted.
enum PeerCredentials {
    /// SO_PEERCRED of a Unix-socket channel.
    static func unixPeer(of channel: any Channel) -> EventLoopFuture<PeerIdentity.Evidence> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeSucceededFuture(.unknown(reason: "channel exposes no socket options"))
        }
        let future: EventLoopFuture<PeerCred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET),
            name: SocketOptionName(SO_PEERCRED)
        )
        return future.map { cred in
            PeerIdentity.Evidence.unixPeer(pid: cred.pid, uid: cred.uid, gid: cred.gid)
        }.recover { error in
            PeerIdentity.Evidence.unknown(reason: "SO_PEERCRED failed: \(error)")
        }
    }

    /// The UID owning the client socket of a TCP connection accepted on a loopback listener.
    static func tcpPeer(remote: SocketAddress?, local: SocketAddress?) -> PeerIdentity.Evidence {
        guard let remote, let local, let remotePort = remote.port, let localPort = local.port else {
            return .unknown(reason: "connection has no addresses")
        }
        // Linux ABI: sin_addr is at offset 4 of sockaddr_in, sin6_addr at offset 8 of sockaddr_in6.
        let family: Int32
        let remoteBytes: [UInt8]
        let localBytes: [UInt8]
        switch (remote, local) {
        case (.v4(let r), .v4(let l)):
            family = AF_INET
            remoteBytes = withUnsafeBytes(of: r.address) { Array($0[4..<8]) }
            localBytes = withUnsafeBytes(of: l.address) { Array($0[4..<8]) }
        case (.v6(let r), .v6(let l)):
            family = AF_INET6
            remoteBytes = withUnsafeBytes(of: r.address) { Array($0[8..<24]) }
            localBytes = withUnsafeBytes(of: l.address) { Array($0[8..<24]) }
        default:
            return .unknown(reason: "connection mixes address families")
        }
        var uid: UInt32 = 0
        var inode: UInt64 = 0
        let rc = airlock_sockdiag_tcp_owner(family, remoteBytes, UInt16(remotePort), localBytes, UInt16(localPort), &uid, &inode)
        guard rc == 0 else {
            if rc == -ESRCH {
                return .unknown(reason: "the peer closed its socket before the connection was accepted (no owner)")
            }
            return .unknown(reason: "sock_diag lookup failed: \(String(cString: strerror(-rc)))")
        }
        return .tcpPeer(uid: uid)
    }
}

/// `struct ucred` (pid, uid, gid), declared here because Glibc exposes it only under _GNU_SOURCE.
struct PeerCred: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
