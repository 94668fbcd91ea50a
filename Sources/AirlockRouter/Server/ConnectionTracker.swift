import NIOCore
import Synchronization

/// Counts open connections and requests in flight, so shutdown can stop accepting, wait for requests to
/// finish up to a deadline, then close what is left.
final class ConnectionTracker: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        /// Open connections per peer (see `PeerIdentity.connectionKey`).
        var perPeer: [String: Int] = [:]
        var inFlight = 0
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Tracks `channel` until it closes. With a peer key and a cap, the connection counts against its peer's open
    /// connections, and false means the peer already holds `cap` of them: the caller refuses the connection (it is
    /// still tracked until it closes, but not counted).
    @discardableResult
    func opened(_ channel: any Channel, peer: String? = nil, cap: Int = .max) -> Bool {
        let counted = state.withLock { s -> Bool in
            s.channels[ObjectIdentifier(channel)] = channel
            guard let peer else { return false }
            let open = s.perPeer[peer, default: 0]
            guard open < cap else { return false }
            s.perPeer[peer] = open + 1
            return true
        }
        channel.closeFuture.whenComplete { [weak self] _ in
            self?.state.withLock { s in
                _ = s.channels.removeValue(forKey: ObjectIdentifier(channel))
                if counted, let peer {
                    let left = s.perPeer[peer, default: 1] - 1
                    s.perPeer[peer] = left > 0 ? left : nil
                }
            }
        }
        return peer == nil || counted
    }

    func requestStarted() {
        state.withLock { $0.inFlight += 1 }
    }

    func requestFinished() {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { s in
            s.inFlight -= 1
            guard s.inFlight == 0 else { return [] }
            defer { s.drainWaiters.removeAll() }
            return s.drainWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    var inFlight: Int { state.withLock { $0.inFlight } }
    var openConnections: Int { state.withLock { $0.channels.count } }

    /// Returns when no request is in flight, or when `timeout` passes.
    func drain(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = self.state.withLock { s -> Bool in
                        if s.inFlight == 0 { return true }
                        s.drainWaiters.append(continuation)
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
            // Release a waiter left behind by the timeout.
            let waiters = self.state.withLock { s in
                defer { s.drainWaiters.removeAll() }
                return s.drainWaiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    /// Closes every open connection (after draining, or on a second signal).
    func closeAll() async {
        let channels = state.withLock { Array($0.channels.values) }
        for channel in channels {
            try? await channel.close()
        }
    }
}
