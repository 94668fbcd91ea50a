/// The group-commit decisions as a pure state machine, generic over a clock so that tests drive time by hand.
///
/// The I/O around it (``CommitWorker``) reports appends and finished flushes and asks what to do next.
struct GroupCommit<C: Clock> where C.Duration == Duration {
    enum Action: Equatable {
        /// Take every pending record and write it with one sync.
        case flush
        /// Sleep until woken, or until the given instant if there is one.
        case wait(until: C.Instant?)
    }

    let durability: Durability
    /// Flush early under `.batched` once this many records are pending.
    let maxBatchRecords: Int

    private(set) var pending = 0
    private(set) var flushing = false
    private var oldestPending: C.Instant?

    init(durability: Durability, maxBatchRecords: Int = 65_536) {
        self.durability = durability
        self.maxBatchRecords = maxBatchRecords
    }

    /// A record was queued. Returns whether the worker must be woken now.
    mutating func appended(at now: C.Instant) -> Bool {
        pending += 1
        if oldestPending == nil { oldestPending = now }
        if flushing { return false }
        switch durability {
        case .sync: return true
        case .batched: return pending == 1 || pending >= maxBatchRecords
        }
    }

    /// What the worker should do now. `closing` flushes whatever is pending at once.
    func nextAction(at now: C.Instant, closing: Bool) -> Action {
        guard !flushing, pending > 0, let oldest = oldestPending else { return .wait(until: nil) }
        switch durability {
        case .sync:
            return .flush
        case .batched(let maxDelay):
            let deadline = oldest.advanced(by: maxDelay)
            if closing || pending >= maxBatchRecords || now >= deadline { return .flush }
            return .wait(until: deadline)
        }
    }

    /// The worker took all pending records.
    mutating func flushStarted() {
        precondition(!flushing)
        flushing = true
        pending = 0
        oldestPending = nil
    }

    /// The flush finished (successfully or not).
    mutating func flushFinished() {
        flushing = false
    }

    /// Pending records were discarded after a failure.
    mutating func discardPending() {
        pending = 0
        oldestPending = nil
    }
}

/// When the next checkpoint is due: every N durable records or T after the first record not yet covered.
struct CheckpointSchedule<C: Clock> where C.Duration == Duration {
    let policy: CheckpointPolicy
    private(set) var checkpointedSize: UInt64?
    private var uncoveredSince: C.Instant?

    init(policy: CheckpointPolicy, checkpointedSize: UInt64?) {
        self.policy = policy
        self.checkpointedSize = checkpointedSize
    }

    /// Records became durable; `size` is the new durable size.
    mutating func recordsDurable(size: UInt64, at now: C.Instant) {
        if size != checkpointedSize && uncoveredSince == nil { uncoveredSince = now }
    }

    /// Whether a checkpoint for `size` should be written now.
    func isDue(size: UInt64, at now: C.Instant) -> Bool {
        guard size != checkpointedSize else { return false }
        if size - (checkpointedSize ?? 0) >= policy.everyRecords { return true }
        guard let since = uncoveredSince else { return false }
        return now >= since.advanced(by: policy.interval)
    }

    /// When a checkpoint becomes due by time, if records are uncovered.
    var deadline: C.Instant? {
        uncoveredSince?.advanced(by: policy.interval)
    }

    mutating func checkpointWritten(size: UInt64) {
        checkpointedSize = size
        uncoveredSince = nil
    }
}
