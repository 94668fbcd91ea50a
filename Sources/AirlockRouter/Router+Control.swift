#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy
import Logging
import NIOCore

extension Router {
    /// Starts serving an already-bound listening socket for `sandbox` (the sandbox launcher hands these in).
    public func adoptListener(fd: Int32, sandbox: String, role: ListenerConfig.Role = .inference) async throws {
        guard holder.current.identities.sandbox(named: sandbox) != nil else {
            throw RouterStartError("no sandbox is named \"\(sandbox)\"; add it under `sandboxes` in the configuration")
        }
        let socket = SocketIdentity(fd: fd)
        let channel = try await factory.adopt(fd: fd, sandbox: sandbox, role: role)
        adopted.withLock { $0[sandbox, default: []].append(HandedIn(channel: channel, socket: socket)) }
        logger.info("listener handed in", metadata: ["sandbox.name": "\(sandbox)", "listener.role": "\(role.rawValue)"])
    }

    /// Stops serving the listeners handed in for `sandbox`: those among `sockets`, or all of them when it is nil
    /// (several launchers may run sandboxes of one name at once: a local MCP server's sessions do); returns how
    /// many were closed.
    @discardableResult
    public func releaseListeners(sandbox: String, sockets: Set<SocketIdentity>? = nil) async -> Int {
        let released: [HandedIn] = adopted.withLock { all in
            let listeners = all[sandbox] ?? []
            guard let sockets else {
                all[sandbox] = nil
                return listeners
            }
            let (mine, others) = (
                listeners.filter { $0.socket.map(sockets.contains) == true },
                listeners.filter { $0.socket.map(sockets.contains) != true }
            )
            all[sandbox] = others.isEmpty ? nil : others
            return mine
        }
        for listener in released { try? await listener.channel.close() }
        return released.count
    }

    func handleControl(_ request: ControlMessage.Request, descriptors: [Int32]) async -> Result<Void, ControlMessage.Failure> {
        switch request {
        case .ping:
            descriptors.forEach { close($0) }
            return .success(())
        case .unregister(let sandbox):
            // With the launcher's own listeners attached, only those; without, every listener of the name.
            let sockets = descriptors.isEmpty ? nil : Set(descriptors.compactMap(SocketIdentity.init(fd:)))
            descriptors.forEach { close($0) }
            await releaseListeners(sandbox: sandbox, sockets: sockets)
            return .success(())
        case .register(let sandbox, let roles):
            guard descriptors.count == roles.count else {
                descriptors.forEach { close($0) }
                return .failure(.init("\(roles.count) role(s) but \(descriptors.count) descriptor(s) attached"))
            }
            guard holder.current.identities.sandbox(named: sandbox) != nil else {
                descriptors.forEach { close($0) }
                return .failure(.init("no sandbox is named \"\(sandbox)\" in the router's configuration"))
            }
            do {
                for (role, fd) in zip(roles, descriptors) {
                    try await adoptListener(fd: fd, sandbox: sandbox, role: role == .egress ? .egress : .inference)
                }
                return .success(())
            } catch {
                return .failure(.init("\(error)"))
            }
        }
    }
}

/// Which open socket a descriptor refers to (its device and inode): the same for every copy of it, in any process.
public struct SocketIdentity: Sendable, Hashable {
    let device: UInt64
    let inode: UInt64

    init?(fd: Int32) {
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}
