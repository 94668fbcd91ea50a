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
        let channel = try await factory.adopt(fd: fd, sandbox: sandbox, role: role)
        adopted.withLock { $0[sandbox, default: []].append(channel) }
        logger.info("listener handed in", metadata: ["sandbox.name": "\(sandbox)", "listener.role": "\(role.rawValue)"])
    }

    /// Stops serving the listeners handed in for `sandbox`; returns how many were closed.
    @discardableResult
    public func releaseListeners(sandbox: String) async -> Int {
        let channels = adopted.withLock { $0.removeValue(forKey: sandbox) ?? [] }
        for channel in channels { try? await channel.close() }
        return channels.count
    }

    func handleControl(_ request: ControlMessage.Request, descriptors: [Int32]) async -> Result<Void, ControlMessage.Failure> {
        switch request {
        case .ping:
            descriptors.forEach { close($0) }
            return .success(())
        case .unregister(let sandbox):
            descriptors.forEach { close($0) }
            await releaseListeners(sandbox: sandbox)
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
