import AirlockPolicy
import Crypto
import Logging

extension Router {
    /// What a reload changed, or why it was refused.
    public enum ReloadResult: Sendable, Equatable {
        case reloaded(policyDigest: String)
        case refused(String)
    }

    /// Re-reads the configuration file and swaps it in atomically: requests in flight finish under the old
    /// one, new requests see the new one. A file that does not load, or that changes what needs a restart
    /// (listeners, state directory, receipt log, budget ledger, control socket, user), keeps the old configuration and says why.
    @discardableResult
    public func reload() async -> ReloadResult {
        let result: ReloadResult
        do {
            result = apply(try ConfigLoader.load(path: state.configPath))
        } catch {
            result = .refused("\(error)")
        }
        return report(result)
    }

    /// Swaps in an already loaded configuration under the same rules (tests build theirs in code).
    @discardableResult
    func reload(_ loaded: LoadedConfig) async -> ReloadResult {
        report(apply(loaded))
    }

    private func report(_ result: ReloadResult) -> ReloadResult {
        switch result {
        case .reloaded(let digest):
            state.metrics.reload(ok: true)
            logger.notice("configuration reloaded", metadata: ["policy.digest": "\(digest)"])
        case .refused(let why):
            state.metrics.reload(ok: false)
            logger.error("configuration reload refused; the previous configuration stays in force", metadata: ["reason": "\(why)"])
        }
        return result
    }

    private func apply(_ loaded: LoadedConfig) -> ReloadResult {
        let old = holder.current.config
        let new = loaded.config
        var fixed: [String] = []
        if old.router.listeners != new.router.listeners { fixed.append("router.listeners") }
        if old.router.stateDirectory != new.router.stateDirectory { fixed.append("router.state_directory") }
        if old.router.control != new.router.control { fixed.append("router.control") }
        if old.router.user != new.router.user { fixed.append("router.user") }
        if old.receipts != new.receipts { fixed.append("receipts") }
        if old.ledger != new.ledger { fixed.append("ledger") }
        guard fixed.isEmpty else {
            return .refused("\(fixed.joined(separator: ", ")) changed; those take effect only after a restart")
        }
        // Keys are read again, so a key rotated in place takes effect; a file the router can no longer read
        // (it dropped privileges after start) keeps the key read earlier, and says so.
        var credentials: [String: Credential] = [:]
        for (key, source) in new.credentialSources {
            do {
                let credential = try Credential.load(source, upstream: key)
                state.credentials.withLock { $0[source] = credential }
                credentials[key] = credential
            } catch {
                guard let known = state.credentials.withLock({ $0[source] }) else {
                    return .refused("\(error) (the router runs as its own user now; a new key file must be readable by it, or restart)")
                }
                logger.warning(
                    "cannot re-read a provider key; keeping the one read earlier",
                    metadata: ["credential.owner": "\(key)", "error": "\(error)"]
                )
                credentials[key] = known
            }
        }
        let digest = Hex.encode(SHA256.hash(data: loaded.source))
        state.budgets.update(tenants: new.tenants)
        holder.replace(
            RouterRuntime(
                config: new,
                credentials: credentials,
                budgets: state.budgets,
                receipts: state.receipts,
                clients: state.clients,
                metrics: state.metrics,
                logger: logger,
                previous: holder.current
            )
        )
        state.digest.withLock { $0 = digest }
        state.ownedLog?.setPolicyDigest(digest)
        return .reloaded(policyDigest: digest)
    }
}
