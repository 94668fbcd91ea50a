#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

extension Router {
    /// Serves until graceful shutdown, then drains. SIGHUP reloads the configuration file.
    public func run() async throws {
        try await run(whenServing: {})
    }

    /// Serves as `run()` does, calling `whenServing` once SIGHUP is trapped (run under a `ServiceGroup`, SIGTERM
    /// and SIGINT are by then too): a ready file written there tells a supervisor it may signal the router. When
    /// `whenServing` throws, the router shuts down as on SIGTERM and the error is rethrown.
    public func run(whenServing: @Sendable () throws -> Void) async throws {
        let shared = state
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        do {
            try whenServing()
        } catch {
            initiateShutdown()
            await stop()
            throw error
        }
        logger.info("router serving", metadata: ["listeners": "\(boundAddresses.joined(separator: ", "))", "policy.digest": "\(policyDigest)"])
        shared.operatorEndpoints.setReady(true, "serving")
        await sampleBudgets()
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { [holder, logger, weak self] in
                    var seconds = 0
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(1))
                        seconds &+= 1
                        // The journal's fdatasync runs on NIO's blocking-I/O pool; the shared ledger's calls are
                        // network I/O. Neither holds one of the few threads that run every request's tasks.
                        try? await shared.budgets.sync()
                        // A query per tenant on the shared ledger: every 10 s, not every second.
                        if seconds % 10 == 0 { await self?.sampleBudgets() }
                        await Self.recordFloods(holder.current, before: WallClock.nanoseconds() / 1_000_000_000, logger: logger)
                    }
                }
                group.addTask { [weak self] in
                    for await _ in hangups {
                        await self?.reload()
                    }
                }
                if let submitter = shared.witnessSubmitter {
                    group.addTask { await submitter.run() }
                }
                for channel in shared.serverChannels {
                    group.addTask { try? await channel.closeFuture.get() }
                }
                for _ in shared.serverChannels { await group.next() }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.initiateShutdown()
        }
        await stop()
    }

    /// Drains what is in flight, closes connections, records what is left, and closes the receipt log.
    private func stop() async {
        let shared = state
        let drain = holder.current.config.router.drainTimeout.duration
        logger.info("draining", metadata: ["in_flight": "\(shared.tracker.inFlight)", "drain.timeout": "\(drain)"])
        await shared.tracker.drain(timeout: drain)
        let left = shared.tracker.inFlight
        await shared.tracker.closeAll()
        // Local MCP servers' processes end with the router.
        for server in holder.current.mcp.byName.values {
            await server.bridge?.shutdown()
        }
        await Self.recordFloods(holder.current, before: nil, logger: logger)
        await shared.budgets.close()
        await shared.clients.shutdown()
        do {
            try await shared.ownedLog?.close()
            // The checkpoint written on closing commits to the last records: witnesses cosign it now, so an auditor
            // requiring their quorum can verify the log of a stopped router, and a rollback below it is refused.
            await shared.witnessSubmitter?.submitNewest(timeout: WitnessSubmitter.shutdownTimeout)
        } catch {
            logger.error("closing the receipt log failed", metadata: ["error": "\(error)"])
        }
        logger.info("router stopped", metadata: ["cut_off": "\(left)"])
    }

    /// Writes the receipts that stand for refusals counted past a rate limit in seconds before `second` (all of
    /// them when nil). One that cannot be written is logged with its count, so the operator still learns of it.
    static func recordFloods(_ runtime: RouterRuntime, before second: Int64?, logger: Logger) async {
        for batch in runtime.limiters.flood.takeDue(before: second) {
            do {
                _ = try await runtime.receipts.append(FloodTally.receipt(batch))
            } catch {
                logger.error(
                    "receipt for refusals past the rate limit could not be written",
                    metadata: ["sandbox.name": "\(batch.key.sandbox ?? "")", "count": "\(batch.count)", "error": "\(error)"]
                )
            }
        }
    }

    /// Stops accepting connections; `run()` then drains and returns. The same as a graceful-shutdown signal.
    public func initiateShutdown() {
        state.operatorEndpoints.setReady(false, "draining")
        state.controlServer?.stop()
        for channel in state.serverChannels where !isOperator(channel) { channel.close(promise: nil) }
        let handedIn = adopted.withLock { all in
            defer { all.removeAll() }
            return all.values.flatMap { $0 }
        }
        for listener in handedIn { listener.channel.close(promise: nil) }
        // The operator listener closes last, so probes see "draining" rather than a refused connection.
        for channel in state.serverChannels where isOperator(channel) { channel.close(promise: nil) }
    }

    private func isOperator(_ channel: any Channel) -> Bool {
        guard let index = state.serverChannels.firstIndex(where: { $0 === channel }) else { return false }
        let listeners = holder.current.config.router.listeners
        return index < listeners.count && listeners[index].role == .operator
    }
}
