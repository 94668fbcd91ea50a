import Foundation

/// An append-only, hash-chained, signed log of receipts: RFC 6962 Merkle tree over canonical-JSON records, durable
/// segment storage with group commit, and C2SP checkpoints signed every N records or T seconds and at close.
///
/// Safe to call from many tasks at once. Open it once per directory and process; call ``close()`` before exiting.
///
/// ```swift
/// let log = try await ReceiptLog.open(.init(directory: dir, origin: "airlock.example/receipts", signers: [key]))
/// let index = try await log.append(Receipt(kind: .request, sandbox: "agent-1", decision: "allow"))
/// try await log.close()
/// ```
public final class ReceiptLog: Sendable {
    /// How to open a log.
    public struct Configuration: Sendable {
        /// The log directory; created with mode 0700 if missing.
        public var directory: String
        /// The log's origin: the first line of its checkpoints and the `origin` of every record.
        public var origin: String
        /// The keys that sign checkpoints (at least one). Changing this set appends an `admin` record.
        public var signers: [CheckpointSigner]
        /// Verifier keys of earlier signers, accepted for the last checkpoint found when opening after a rotation.
        public var trustedKeys: [NoteVerifierKey]
        /// When an append returns.
        public var durability: Durability
        /// When checkpoints are written.
        public var checkpoints: CheckpointPolicy
        /// A new segment file starts once the current one reaches this size.
        public var segmentBytes: Int
        /// The wall clock used for `time` when a receipt has none (replaced in tests).
        var wallClock: @Sendable () -> Int64 = ReceiptLog.wallClockNanoseconds

        /// Creates a configuration with defaults: `.sync`, a checkpoint every 10,000 records or 10 s, 64 MiB segments.
        public init(
            directory: String,
            origin: String,
            signers: [CheckpointSigner],
            trustedKeys: [NoteVerifierKey] = [],
            durability: Durability = .sync,
            checkpoints: CheckpointPolicy = CheckpointPolicy(),
            segmentBytes: Int = 64 << 20
        ) {
            self.directory = directory
            self.origin = origin
            self.signers = signers
            self.trustedKeys = trustedKeys
            self.durability = durability
            self.checkpoints = checkpoints
            self.segmentBytes = segmentBytes
        }
    }

    /// The configuration the log was opened with.
    public let configuration: Configuration
    /// What opening found and repaired (a cut torn frame, for example).
    public let recovery: RecoveryReport
    /// The key for body digests (``BodyKey/fileName`` in the log directory).
    public let bodyKey: BodyKey

    private let core: LogCore

    private init(configuration: Configuration, recovery: RecoveryReport, bodyKey: BodyKey, core: LogCore) {
        self.configuration = configuration
        self.recovery = recovery
        self.bodyKey = bodyKey
        self.core = core
    }

    /// Opens (or creates) the log in `configuration.directory`.
    ///
    /// Recovery runs first: a torn final frame is cut off and reported in ``recovery``; a log that is shorter than
    /// or inconsistent with its last signed checkpoint or saved tree state is not opened (an error with code
    /// ``ReceiptLogError/Code/integrityAlarm``) and is left untouched.
    public static func open(_ configuration: Configuration) async throws(ReceiptLogError) -> ReceiptLog {
        guard !configuration.signers.isEmpty else {
            throw ReceiptLogError(.invalidKey, "a receipt log needs at least one checkpoint signing key")
        }
        guard !configuration.origin.isEmpty, !configuration.origin.contains("\n"),
            !configuration.origin.unicodeScalars.contains(where: { $0.value < 0x20 })
        else {
            throw ReceiptLogError(.invalidKey, "the origin must be one non-empty line without control characters")
        }
        let directory = configuration.directory
        try FileSystem.createDirectory(directory)
        let lock = try LogLock(directory: directory)
        do {
            let bodyKey = try BodyKey.loadOrCreate(directory: directory)
            let known = configuration.signers.map(\.verifierKey) + configuration.trustedKeys
            let recovered = try Recovery.recover(directory: directory, origin: configuration.origin, knownKeys: known)
            let writer = try SegmentWriter(
                directory: directory,
                segment: recovered.lastSegment,
                offset: recovered.lastSegmentBytes,
                maxSegmentBytes: max(4096, configuration.segmentBytes)
            )
            let core = LogCore(size: recovered.range.size, durability: configuration.durability)
            let worker = CommitWorker(
                core: core,
                configuration: configuration,
                lock: lock,
                writer: writer,
                range: recovered.range,
                checkpointedSize: recovered.latestCheckpoint?.checkpoint.size
            )
            worker.start()
            let log = ReceiptLog(configuration: configuration, recovery: recovered.report, bodyKey: bodyKey, core: core)
            let keys = configuration.signers.map(\.verifierKey.text).sorted()
            if recovered.treeState?.keys != keys {
                _ = try await log.append(
                    Receipt(
                        kind: .admin,
                        reason: "signing_keys_changed",
                        extensions: ["keys": .string(keys.joined(separator: " "))]
                    )
                )
            }
            return log
        } catch {
            lock.release()
            throw error
        }
    }

    /// Records in the log itself that opening cut off a torn final record: an `admin` record with reason
    /// `torn_tail_cut` and `torn_bytes`, the number of bytes cut. Called before any other append, its index is the
    /// one the torn record would have had. Returns its index, or nil when opening cut nothing or the record was
    /// already appended.
    ///
    /// Call it right after ``open(_:)``, after logging ``recovery``'s ``RecoveryReport/messages``.
    public func appendRecoveryRecord() async throws(ReceiptLogError) -> UInt64? {
        guard let torn = recovery.tornFrame else { return nil }
        let first = core.withLock {
            defer { core.recoveryRecorded = true }
            return !core.recoveryRecorded
        }
        guard first else { return nil }
        do {
            let bytes = ReceiptValue.integer(Int64(torn.bytesCut))
            return try await append(Receipt(kind: .admin, reason: "torn_tail_cut", extensions: ["torn_bytes": bytes]))
        } catch {
            core.withLock { core.recoveryRecorded = false }
            throw error
        }
    }

    /// Appends a receipt and returns its index.
    ///
    /// The log fills in `v`, `origin` and `index` (and `time` when the receipt has none). Under `.sync` this returns
    /// once the record is durable; concurrent callers share one `fdatasync`. On any I/O error it throws, and no part
    /// of the record remains visible.
    public func append(_ receipt: Receipt) async throws(ReceiptLogError) -> UInt64 {
        let time = configuration.wallClock()
        let template: (bytes: [UInt8], slot: Int)
        if let fast = receipt.fastTemplate(origin: configuration.origin, defaultTime: time) {
            template = fast
        } else {
            let members = try receipt.members(origin: configuration.origin, defaultTime: time)
            let (prefix, suffix) = CanonicalJSON.encodeTemplate(members, slot: "index")
            template = (prefix + suffix, prefix.count)
        }
        guard template.bytes.count + 20 <= Frame.maxLeafBytes else {
            throw ReceiptLogError(.invalidRecord, "the record is larger than \(Frame.maxLeafBytes) bytes")
        }
        // The verifier's own schema check, so that the log never holds a record its verifier refuses. The index
        // (filled in under the lock) is 0 here; the one rule that depends on it is checked in `enqueue`.
        var leaf = Array(template.bytes[..<template.slot])
        leaf.append(UInt8(ascii: "0"))
        leaf.append(contentsOf: template.bytes[template.slot...])
        if let problem = leaf.withUnsafeBytes({ RecordSchema.check(leaf: $0) }) {
            throw ReceiptLogError(
                .invalidRecord,
                "the receipt breaks the record schema (\(problem.reason)): \(problem.message); docs/receipts.md section 3 lists what a record may hold"
            )
        }
        switch configuration.durability {
        case .sync:
            do {
                return try await withCheckedThrowingContinuation { continuation in
                    if let error = enqueue(template, requestIndex: receipt.requestIndex, waiter: continuation).error {
                        continuation.resume(throwing: error)
                    }
                }
            } catch let error as ReceiptLogError {
                throw error
            } catch {
                throw ReceiptLogError(.io, "append failed: \(error)")
            }
        case .batched:
            let result = enqueue(template, requestIndex: receipt.requestIndex, waiter: nil)
            if let error = result.error { throw error }
            return result.index
        }
    }

    private func enqueue(
        _ template: (bytes: [UInt8], slot: Int),
        requestIndex: UInt64?,
        waiter: CheckedContinuation<UInt64, any Error>?
    ) -> (index: UInt64, error: ReceiptLogError?) {
        let now = ContinuousClock.now
        core.condition.lock()
        if let failure = core.failure {
            core.condition.unlock()
            return (0, failure)
        }
        if core.closing || core.closed {
            core.condition.unlock()
            return (0, ReceiptLogError(.closed, "the receipt log is closed", path: configuration.directory))
        }
        let index = core.nextIndex
        if let requestIndex, requestIndex >= index {
            core.condition.unlock()
            return (
                0,
                ReceiptLogError(
                    .invalidRecord,
                    "request_index \(requestIndex) is not an earlier record (this record would be \(index)); pass the index that appending the request returned"
                )
            )
        }
        core.nextIndex += 1
        template.bytes.withUnsafeBufferPointer { bytes in
            core.pendingLeaves.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[..<template.slot]))
            FastDecimal.append(unsigned: index, to: &core.pendingLeaves)
            core.pendingLeaves.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[template.slot...]))
        }
        core.pendingEnds.append(core.pendingLeaves.count)
        if let waiter { core.pendingWaiters.append(waiter) }
        let wake = core.machine.appended(at: now)
        core.condition.unlock()
        // Signalled after unlocking, so the woken commit thread does not block at once on the lock still held here
        // (it re-checks the pending state under the lock, so no wake-up is lost).
        if wake { core.condition.signal() }
        return (index, nil)
    }

    /// Adds witness cosignature lines to the stored checkpoint if it is still `checkpoint` (same text): `checkpoint`
    /// is replaced and the cosigned note appended to `checkpoints.log`, as for a new checkpoint. Returns false, and
    /// changes nothing, when a newer checkpoint has replaced it, when every line is there already, or while the log
    /// is closing. The lines are not checked here; the caller verifies them against the witnesses' keys.
    ///
    /// Once the log is closed it still adds them to its final checkpoint, under the directory lock taken again for
    /// the write; it throws ``ReceiptLogError/Code/locked`` when another process has opened the log since.
    public func addCosignatures(_ lines: [SignedNote.Signature], to checkpoint: SignedCheckpoint) throws(ReceiptLogError)
        -> Bool
    {
        core.checkpointFiles.lock()
        defer { core.checkpointFiles.unlock() }
        let (closing, closed) = core.withLock { (core.closing, core.closed) }
        var relock: LogLock?
        if closed {
            relock = try LogLock(directory: configuration.directory)
        } else if closing {
            return false
        }
        defer { relock?.release() }
        let path = configuration.directory + "/" + LogFiles.checkpoint
        guard let bytes = try FileSystem.readFile(path) else { return false }
        let stored = try SignedCheckpoint(parsing: bytes)
        guard stored.note.text == checkpoint.note.text else { return false }
        let cosigned = try stored.note.adding(lines)
        guard cosigned != stored.note else { return false }
        try CheckpointFiles.write(cosigned.serialized, directory: configuration.directory)
        return true
    }

    /// The number of records known to be durable.
    public var durableSize: UInt64 { core.withLock { core.durableSize } }

    /// Flushes pending records, writes a final checkpoint, releases the directory lock and stops the commit thread.
    /// Appends after this throw ``ReceiptLogError/Code/closed``. Calling it again is harmless.
    public func close() async throws(ReceiptLogError) {
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                core.condition.lock()
                if core.closed {
                    let result = core.closeResult
                    core.condition.unlock()
                    if let result { continuation.resume(throwing: result) } else { continuation.resume() }
                    return
                }
                core.closing = true
                core.closeWaiters.append(continuation)
                core.condition.signal()
                core.condition.unlock()
            }
        } catch let error as ReceiptLogError {
            throw error
        } catch {
            throw ReceiptLogError(.io, "close failed: \(error)")
        }
    }

    @Sendable static func wallClockNanoseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }
}
