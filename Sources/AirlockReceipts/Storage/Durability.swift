/// When an append counts as done.
public enum Durability: Sendable, Hashable {
    /// `append` returns only after the record is on stable storage (`fdatasync`). Concurrent appends share one sync
    /// (group commit).
    case sync
    /// `append` returns once the record is queued; it reaches stable storage within `maxDelay`. A failed write then
    /// makes the log refuse further appends until it is reopened.
    case batched(maxDelay: Duration)
}

/// When checkpoints are signed and written. One is always written at ``ReceiptLog/close()``.
public struct CheckpointPolicy: Sendable, Hashable {
    /// Write a checkpoint once this many records have become durable since the last one.
    public var everyRecords: UInt64
    /// Write a checkpoint at most this long after a record becomes durable.
    public var interval: Duration

    /// Creates a policy.
    public init(everyRecords: UInt64 = 10_000, interval: Duration = .seconds(10)) {
        self.everyRecords = max(1, everyRecords)
        self.interval = interval
    }
}
