import Foundation

/// The state shared between appending tasks and the commit worker thread. Every field is guarded by `condition`.
final class LogCore: @unchecked Sendable {
    let condition = NSCondition()

    var nextIndex: UInt64
    var pendingLeaves: [UInt8] = []
    var pendingEnds: [Int] = []
    var pendingWaiters: [CheckedContinuation<UInt64, any Error>] = []
    var machine: GroupCommit<ContinuousClock>
    var failure: ReceiptLogError?
    var closing = false
    var closed = false
    var closeWaiters: [CheckedContinuation<Void, any Error>] = []
    var closeResult: ReceiptLogError?
    var durableSize: UInt64
    /// Whether ``ReceiptLog/appendRecoveryRecord()`` has appended its record.
    var recoveryRecorded = false
    /// Held while `checkpoint` and `checkpoints.log` are written, by the commit thread (a new checkpoint) and by
    /// ``ReceiptLog/addCosignatures(_:to:)`` (the same checkpoint with cosignatures), so neither overwrites the
    /// other. Not `condition`: the writes fsync, and appenders must not wait for them.
    let checkpointFiles = NSLock()

    init(size: UInt64, durability: Durability) {
        self.nextIndex = size
        self.durableSize = size
        self.machine = GroupCommit(durability: durability)
    }

    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        condition.lock()
        defer { condition.unlock() }
        return try body()
    }
}
