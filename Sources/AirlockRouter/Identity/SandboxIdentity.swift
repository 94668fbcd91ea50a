import AirlockPolicy

/// Who is on the other end of a connection: a configured sandbox and the tenant it belongs to.
public struct SandboxIdentity: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var tenant: String

    public init(name: String, tenant: String) {
        self.name = name
        self.tenant = tenant
    }

    public var description: String { "\(name)/\(tenant)" }
}

/// What the kernel told us about a peer, and the identity it maps to, if any.
public struct PeerIdentity: Sendable, Equatable {
    public enum Evidence: Sendable, Equatable {
        /// SO_PEERCRED on a Unix socket.
        case unixPeer(pid: Int32, uid: UInt32, gid: UInt32)
        /// The owner UID of the peer socket on TCP loopback, from NETLINK_SOCK_DIAG.
        case tcpPeer(uid: UInt32)
        /// The listener itself was registered for one sandbox.
        case listener(sandbox: String)
        /// The kernel gave no answer (the reason says why).
        case unknown(reason: String)
    }

    public var evidence: Evidence
    /// nil: unknown peer, every request is refused with 403.
    public var sandbox: SandboxIdentity?

    /// Whose connections these are, for the per-peer connection cap: the UID, else the handed-in listener's sandbox;
    /// peers the kernel could not name share one key.
    public var connectionKey: String {
        switch evidence {
        case .unixPeer(_, let uid, _), .tcpPeer(let uid): return "uid \(uid)"
        case .listener(let sandbox): return "listener \(sandbox)"
        case .unknown: return "unknown"
        }
    }

    /// The peer UID when the kernel reported one.
    public var uid: UInt32? {
        switch evidence {
        case .unixPeer(_, let uid, _), .tcpPeer(let uid): return uid
        case .listener, .unknown: return nil
        }
    }
}

/// Maps kernel-reported peer credentials to sandboxes, per the `sandboxes` section of the configuration.
public struct IdentityMap: Sendable {
    private var byUID: [UInt32: SandboxIdentity] = [:]
    private var byGID: [UInt32: SandboxIdentity] = [:]
    private var byName: [String: SandboxIdentity] = [:]

    public init(_ sandboxes: [SandboxPolicy]) {
        for sandbox in sandboxes {
            let identity = SandboxIdentity(name: sandbox.name, tenant: sandbox.tenant)
            byName[sandbox.name] = identity
            for uid in sandbox.uids { byUID[uid] = identity }
            for gid in sandbox.gids { byGID[gid] = identity }
        }
    }

    public func identify(_ evidence: PeerIdentity.Evidence) -> PeerIdentity {
        let sandbox: SandboxIdentity?
        switch evidence {
        case .unixPeer(_, let uid, let gid):
            sandbox = byUID[uid] ?? byGID[gid]
        case .tcpPeer(let uid):
            sandbox = byUID[uid]
        case .listener(let name):
            sandbox = byName[name]
        case .unknown:
            sandbox = nil
        }
        return PeerIdentity(evidence: evidence, sandbox: sandbox)
    }

    public func sandbox(named name: String) -> SandboxIdentity? {
        byName[name]
    }
}
