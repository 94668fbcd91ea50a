import Foundation

/// The thread that writes batches, syncs them, resumes the waiting appenders and writes checkpoints.
///
/// It runs on its own thread, not in the Swift concurrency pool, because `fdatasync` blocks.
final class CommitWorker: @unchecked Sendable {
    private let core: LogCore
    private let clock = ContinuousClock()
    private let origin: String
    private let directory: String
    private let signers: [CheckpointSigner]
    private let keys: [String]
    private let lock: LogLock
    private var writer: SegmentWriter
    private var range: CompactRange
    private var schedule: CheckpointSchedule<ContinuousClock>
    private var frames: [UInt8] = []
    private var spareLeaves: [UInt8] = []
    private var spareEnds: [Int] = []
    private var spareWaiters: [CheckedContinuation<UInt64, any Error>] = []
    private var checkpointError: ReceiptLogError?

    init(
        core: LogCore,
        configuration: ReceiptLog.Configuration,
        lock: LogLock,
        writer: SegmentWriter,
        range: CompactRange,
        checkpointedSize: UInt64?
    ) {
        self.core = core
        self.origin = configuration.origin
        self.directory = configuration.directory
        self.signers = configuration.signers
        self.keys = configuration.signers.map(\.verifierKey.text).sorted()
        self.lock = lock
        self.writer = writer
        self.range = range
        self.schedule = CheckpointSchedule(policy: configuration.checkpoints, checkpointedSize: checkpointedSize)
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "airlock-receipts-commit"
        thread.start()
    }

    private func run() {
        core.condition.lock()
        while true {
            let now = clock.now
            if core.closing && core.machine.pending == 0 && !core.machine.flushing { break }
            switch core.machine.nextAction(at: now, closing: core.closing) {
            case .flush:
                flushPending()
            case .wait(let flushDeadline):
                if schedule.isDue(size: range.size, at: now) && core.failure == nil {
                    core.condition.unlock()
                    writeCheckpoint()
                    core.condition.lock()
                    continue
                }
                let deadline = [flushDeadline, schedule.deadline].compactMap { $0 }.min()
                if let deadline {
                    let seconds = Double((deadline - now).components.seconds)
                        + Double((deadline - now).components.attoseconds) / 1e18
                    _ = core.condition.wait(until: Date(timeIntervalSinceNow: max(0, seconds)))
                } else {
                    core.condition.wait()
                }
            }
        }
        core.condition.unlock()
        finish()
    }

    /// Called with the lock held; returns with the lock held.
    private func flushPending() {
        swap(&core.pendingLeaves, &spareLeaves)
        swap(&core.pendingEnds, &spareEnds)
        swap(&core.pendingWaiters, &spareWaiters)
        let count = spareEnds.count
        let firstIndex = core.nextIndex - UInt64(count)
        core.machine.flushStarted()
        core.condition.unlock()

        var newRange = range
        frames.removeAll(keepingCapacity: true)
        spareLeaves.withUnsafeBytes { leaves in
            var start = 0
            for end in spareEnds {
                newRange.append(Frame.append(leaf: UnsafeRawBufferPointer(rebasing: leaves[start..<end]), to: &frames))
                start = end
            }
        }
        var result: Result<Void, SegmentWriter.AppendFailure>
        do {
            try writer.rollIfFull(firstIndex: firstIndex)
            result = frames.withUnsafeBytes { writer.append($0) }
        } catch {
            result = .failure(.recoverable(error))
        }

        var failed: [CheckedContinuation<UInt64, any Error>] = []
        var failure: ReceiptLogError?
        core.condition.lock()
        core.machine.flushFinished()
        switch result {
        case .success:
            range = newRange
            core.durableSize = range.size
        case .failure(let reason):
            let error: ReceiptLogError
            switch reason {
            case .recoverable(let e): error = e
            case .poisoned(let e): error = e
            }
            failure = error
            // Records queued after the failed batch were numbered after it; they fail too and their indices are
            // handed out again, so the log never has a gap.
            failed = core.pendingWaiters
            core.pendingWaiters.removeAll()
            core.pendingLeaves.removeAll(keepingCapacity: true)
            core.pendingEnds.removeAll(keepingCapacity: true)
            core.machine.discardPending()
            core.nextIndex = range.size
            if case .poisoned = reason {
                core.failure = ReceiptLogError(
                    .failed,
                    "the log stopped accepting appends after: \(error.message). Reopen it to recover",
                    path: error.path
                )
            } else if case .batched = core.machine.durability {
                // Batched appends were already acknowledged; their loss must not go unnoticed.
                core.failure = ReceiptLogError(
                    .failed,
                    "acknowledged batched records from index \(firstIndex) were lost: \(error.message). Reopen the log",
                    path: error.path,
                    index: firstIndex
                )
            }
        }
        core.condition.unlock()

        let now = clock.now
        if let failure {
            for waiter in spareWaiters { waiter.resume(throwing: failure) }
            let later = ReceiptLogError(
                .io,
                "an earlier record in the same group commit could not be written: \(failure.message)",
                path: failure.path
            )
            for waiter in failed { waiter.resume(throwing: later) }
        } else {
            var index = firstIndex
            for waiter in spareWaiters {
                waiter.resume(returning: index)
                index += 1
            }
            schedule.recordsDurable(size: range.size, at: now)
            if schedule.isDue(size: range.size, at: now) { writeCheckpoint() }
        }
        spareLeaves.removeAll(keepingCapacity: true)
        spareEnds.removeAll(keepingCapacity: true)
        spareWaiters.removeAll(keepingCapacity: true)
        core.condition.lock()
    }

    private func writeCheckpoint() {
        do {
            try Self.writeCheckpoint(range: range, origin: origin, keys: keys, signers: signers, directory: directory)
            schedule.checkpointWritten(size: range.size)
            checkpointError = nil
        } catch {
            checkpointError = error
        }
    }

    static func writeCheckpoint(
        range: CompactRange,
        origin: String,
        keys: [String],
        signers: [CheckpointSigner],
        directory: String
    ) throws(ReceiptLogError) {
        let signed = try SignedCheckpoint(
            signing: Checkpoint(origin: origin, size: range.size, root: range.root),
            with: signers
        )
        let state = TreeState(range: range, keys: keys)
        try FileSystem.writeAtomically(Array(state.text.utf8), to: directory + "/" + LogFiles.treeState)
        try CheckpointFiles.write(signed.serialized, directory: directory)
    }

    private func finish() {
        let failure = core.withLock { core.failure }
        var result: ReceiptLogError? = failure
        if failure == nil && (schedule.checkpointedSize != range.size || checkpointError != nil) {
            writeCheckpoint()
            result = checkpointError
        }
        writer.closeFile()
        lock.release()
        let waiters = core.withLock {
            core.closed = true
            core.closeResult = result
            let waiters = core.closeWaiters
            core.closeWaiters.removeAll()
            return waiters
        }
        for waiter in waiters {
            if let result { waiter.resume(throwing: result) } else { waiter.resume() }
        }
    }
}
