import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The threads that write batches, sync them, resume the waiting appenders and write checkpoints.
///
/// Two stages, each on its own thread (not in the Swift concurrency pool, because `pwrite` and `fdatasync` block),
/// so that the `fdatasync` of one batch overlaps the framing, hashing and writing of the next:
///
/// - the **write stage** takes the pending records, frames and hashes them and writes them with `pwrite`;
/// - the **sync stage** makes everything written so far durable with one `fdatasync`, resumes the appenders of
///   all those batches and writes checkpoints.
///
/// A record is acknowledged only after an `fdatasync` that started after its `pwrite` returned, so `.sync` keeps its
/// meaning. A failed `fdatasync` poisons the log exactly as before.
final class CommitWorker: @unchecked Sendable {
    private let core: LogCore
    private let clock = ContinuousClock()
    private let origin: String
    private let directory: String
    private let signers: [CheckpointSigner]
    private let keys: [String]
    private let lock: LogLock

    // Write stage only.
    private var writer: SegmentWriter
    /// The tree including every batch written (not necessarily durable yet).
    private var writtenRange: CompactRange
    private var frames: [UInt8] = []
    private var spareLeaves: [UInt8] = []
    private var spareEnds: [Int] = []
    private var spareWaiters: [CheckedContinuation<UInt64, any Error>] = []

    // Sync stage only; the write stage uses them in `finish()`, after the sync stage has stopped.
    /// The tree of the durable records.
    private var range: CompactRange
    private var schedule: CheckpointSchedule<ContinuousClock>
    private var checkpointError: ReceiptLogError?

    // Shared between the stages, guarded by `core.condition`.
    /// Batches written and not yet synced, in order.
    private var written: [WrittenBatch] = []
    private var syncing = false
    private var stopSync = false
    private var syncStopped = false
    /// After a failed sync: the segment length everything beyond which must be cut.
    private var poisonOffset: Int?
    /// Appenders resumed by the last successful sync, and a moving average of one `fdatasync` in seconds (written
    /// by the sync stage, read by the write stage).
    private var lastSyncWaiters = 0
    private var syncSeconds = 0.0
    /// The longest a `.sync` batch waits for the appenders of the previous one to come back.
    static let maxGatherSeconds = 150e-6
    /// While the sync stage gathers: wake it only once this many appenders are in written batches (0: on every
    /// batch). Saves a context switch per straggler.
    private var syncGatherTarget = 0
    /// The appenders in `written`.
    private var writtenWaiters = 0
    /// Wakes the sync stage (the write stage waits on `core.condition`).
    private let syncWake = DispatchSemaphore(value: 0)

    /// A batch written to the segment but not yet synced.
    private struct WrittenBatch {
        let fd: Int32
        let path: String
        /// Where the batch starts in its segment.
        let startOffset: Int
        /// The tree after this batch.
        let range: CompactRange
        let firstIndex: UInt64
        let waiters: [CheckedContinuation<UInt64, any Error>]
    }

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
        self.writtenRange = range
        self.schedule = CheckpointSchedule(policy: configuration.checkpoints, checkpointedSize: checkpointedSize)
    }

    func start() {
        let syncThread = Thread { [self] in runSync() }
        syncThread.name = "airlock-receipts-sync"
        syncThread.start()
        let thread = Thread { [self] in run() }
        thread.name = "airlock-receipts-commit"
        thread.start()
    }

    // MARK: - Write stage

    private func run() {
        core.condition.lock()
        while true {
            let now = clock.now
            if core.closing && core.machine.pending == 0 && !core.machine.flushing { break }
            switch core.machine.nextAction(at: now, closing: core.closing) {
            case .flush:
                writePending()
            case .wait(let deadline):
                if let deadline {
                    let seconds = Double((deadline - now).components.seconds)
                        + Double((deadline - now).components.attoseconds) / 1e18
                    _ = core.condition.wait(until: Date(timeIntervalSinceNow: max(0, seconds)))
                } else {
                    core.condition.wait()
                }
            }
        }
        // Let the sync stage make the last batches durable, then stop it.
        stopSync = true
        syncWake.signal()
        while !syncStopped { core.condition.wait() }
        core.condition.unlock()
        finish()
    }

    /// Takes every pending record, frames, hashes and writes it, and hands it to the sync stage. Called with the
    /// lock held; returns with the lock held.
    private func writePending() {
        swap(&core.pendingLeaves, &spareLeaves)
        swap(&core.pendingEnds, &spareEnds)
        swap(&core.pendingWaiters, &spareWaiters)
        let count = spareEnds.count
        let firstIndex = core.nextIndex - UInt64(count)
        core.machine.flushStarted()
        if writer.isFull {
            // A new segment gets a new descriptor: first let the sync stage finish with the old one.
            syncWake.signal()
            while !written.isEmpty || syncing { core.condition.wait() }
        }
        core.condition.unlock()

        var newRange = writtenRange
        frames.removeAll(keepingCapacity: true)
        spareLeaves.withUnsafeBytes { leaves in
            var start = 0
            for end in spareEnds {
                newRange.append(Frame.append(leaf: UnsafeRawBufferPointer(rebasing: leaves[start..<end]), to: &frames))
                start = end
            }
        }
        var result: Result<Void, SegmentWriter.AppendFailure>
        var startOffset = writer.offset
        do {
            try writer.rollIfFull(firstIndex: firstIndex)
            startOffset = writer.offset
            result = frames.withUnsafeBytes { writer.write($0) }
        } catch {
            result = .failure(.recoverable(error))
        }

        var failed: [CheckedContinuation<UInt64, any Error>] = []
        var failure: ReceiptLogError?
        var later: ReceiptLogError?
        core.condition.lock()
        core.machine.flushFinished()
        switch result {
        case .success:
            if let poisoned = core.failure {
                // The sync stage failed meanwhile: nothing written after that can be acknowledged.
                if let cut = poisonOffset { _ = ftruncate(writer.currentFD, off_t(cut)) }
                failure = poisoned
            } else {
                writtenRange = newRange
                written.append(
                    WrittenBatch(
                        fd: writer.currentFD,
                        path: writer.path,
                        startOffset: startOffset,
                        range: newRange,
                        firstIndex: firstIndex,
                        waiters: spareWaiters
                    )
                )
                writtenWaiters += spareWaiters.count
                spareWaiters = []
                if syncGatherTarget == 0 || writtenWaiters >= syncGatherTarget { syncWake.signal() }
            }
        case .failure(let reason):
            let error: ReceiptLogError
            switch reason {
            case .recoverable(let e): error = e
            case .poisoned(let e): error = e
            }
            failure = error
            later = ReceiptLogError(
                .io,
                "an earlier record in the same group commit could not be written: \(error.message)",
                path: error.path
            )
            // Records queued after the failed batch were numbered after it; they fail too and their indices are
            // handed out again, so the log never has a gap.
            failed = core.pendingWaiters
            core.pendingWaiters.removeAll()
            core.pendingLeaves.removeAll(keepingCapacity: true)
            core.pendingEnds.removeAll(keepingCapacity: true)
            core.machine.discardPending()
            core.nextIndex = writtenRange.size
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

        if let failure {
            for waiter in spareWaiters { waiter.resume(throwing: failure) }
            for waiter in failed { waiter.resume(throwing: later ?? failure) }
        }
        spareLeaves.removeAll(keepingCapacity: true)
        spareEnds.removeAll(keepingCapacity: true)
        spareWaiters.removeAll(keepingCapacity: true)
        core.condition.lock()
    }

    // MARK: - Sync stage

    private func runSync() {
        var gathered = false
        core.condition.lock()
        while true {
            if written.isEmpty {
                if stopSync { break }
                let now = clock.now
                if core.failure == nil && schedule.isDue(size: range.size, at: now) {
                    core.condition.unlock()
                    writeCheckpoint()
                    core.condition.lock()
                    continue
                }
                let deadline = core.failure == nil ? schedule.deadline : nil
                core.condition.unlock()
                if let deadline {
                    let nanoseconds = max(0, Int((deadline - now) / .nanoseconds(1)))
                    _ = syncWake.wait(timeout: .now() + .nanoseconds(nanoseconds))
                } else {
                    syncWake.wait()
                }
                core.condition.lock()
                continue
            }

            // Group commit's classic weakness: the appenders resumed by one sync come back one by one, the first
            // is synced alone and the others wait a whole sync for the next one, so a group of N turns into two
            // syncs. Under `.sync`, while fewer appenders are written than the last sync resumed, wait briefly (at
            // most half a sync, at most maxGatherSeconds) for the rest; the write stage keeps writing meanwhile and
            // wakes this thread only when the group is complete.
            if case .sync = core.machine.durability, !gathered, !stopSync, !core.closing, syncSeconds > 0,
                writtenWaiters < lastSyncWaiters
            {
                gathered = true
                syncGatherTarget = lastSyncWaiters
                let deadline = DispatchTime.now() + .nanoseconds(Int(min(Self.maxGatherSeconds, syncSeconds / 2) * 1e9))
                while writtenWaiters < syncGatherTarget && !core.closing && !stopSync {
                    core.condition.unlock()
                    let timedOut = syncWake.wait(timeout: deadline) == .timedOut
                    core.condition.lock()
                    if timedOut { break }
                }
                syncGatherTarget = 0
                continue
            }
            gathered = false
            syncWritten()
        }
        syncStopped = true
        core.condition.broadcast()
        core.condition.unlock()
    }

    /// Syncs every written batch with one `fdatasync` and resumes their appenders. Called with the lock held;
    /// returns with the lock held.
    private func syncWritten() {
        let batches = written
        written.removeAll(keepingCapacity: true)
        writtenWaiters = 0
        syncing = true
        core.condition.unlock()

        let last = batches[batches.count - 1]
        let started = clock.now
        let error = SegmentWriter.sync(fd: last.fd, path: last.path)
        let took = clock.now - started
        let seconds = Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18

        var later: [CheckedContinuation<UInt64, any Error>] = []
        var failure: ReceiptLogError?
        core.condition.lock()
        syncing = false
        syncSeconds = syncSeconds == 0 ? seconds : syncSeconds * 0.875 + seconds * 0.125
        if let error {
            // After a failed fsync the kernel may have dropped the dirty pages; retrying could report success for
            // data that is gone (PostgreSQL "fsyncgate", 2018). Only a reopen, which re-reads the file, is safe.
            let cut = batches[0].startOffset
            _ = ftruncate(last.fd, off_t(cut))
            poisonOffset = cut
            failure = error
            core.failure = ReceiptLogError(
                .failed,
                "the log stopped accepting appends after: \(error.message). Reopen it to recover",
                path: error.path
            )
            later = written.flatMap(\.waiters) + core.pendingWaiters
            written.removeAll()
            writtenWaiters = 0
            core.pendingWaiters.removeAll()
            core.pendingLeaves.removeAll(keepingCapacity: true)
            core.pendingEnds.removeAll(keepingCapacity: true)
            core.machine.discardPending()
            core.nextIndex = range.size
            lastSyncWaiters = 0
        } else {
            range = last.range
            core.durableSize = range.size
            lastSyncWaiters = batches.reduce(0) { $0 + $1.waiters.count }
        }
        core.condition.broadcast()
        core.condition.unlock()

        if let failure {
            for batch in batches {
                for waiter in batch.waiters { waiter.resume(throwing: failure) }
            }
            let laterError = ReceiptLogError(
                .io,
                "an earlier record in the same group commit could not be written: \(failure.message)",
                path: failure.path
            )
            for waiter in later { waiter.resume(throwing: laterError) }
        } else {
            for batch in batches {
                var index = batch.firstIndex
                for waiter in batch.waiters {
                    waiter.resume(returning: index)
                    index += 1
                }
            }
            let now = clock.now
            schedule.recordsDurable(size: range.size, at: now)
            if schedule.isDue(size: range.size, at: now) { writeCheckpoint() }
        }
        core.condition.lock()
    }

    private func writeCheckpoint() {
        core.checkpointFiles.lock()
        defer { core.checkpointFiles.unlock() }
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

    /// Runs on the write stage's thread after the sync stage has stopped.
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
