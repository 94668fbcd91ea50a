import NIOCore
import Synchronization

/// Open child channels, so shutdown can close connections that are hanging or streaming.
final class ConnectionRegistry: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])
    private let closed = Mutex(false)

    /// Registers `channel` until it closes; returns false once shutdown has begun.
    func add(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let accepted = self.closed.withLock { closed in
            if closed { return false }
            self.channels.withLock { $0[id] = channel }
            return true
        }
        guard accepted else { return false }
        channel.closeFuture.whenComplete { _ in
            _ = self.channels.withLock { $0.removeValue(forKey: id) }
        }
        return true
    }

    /// Stops accepting and returns every channel still open.
    func closeAll() -> [any Channel] {
        self.closed.withLock { $0 = true }
        return self.channels.withLock { Array($0.values) }
    }
}
