#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What opening a log found and repaired.
public struct RecoveryReport: Sendable, Hashable {
    /// A final frame that was incomplete or did not match its hash: a write that was never acknowledged.
    public struct TornFrame: Sendable, Hashable {
        /// The segment file.
        public let path: String
        /// Where the cut was made.
        public let offset: Int
        /// How many bytes were removed.
        public let bytesCut: Int
        /// The index the torn record would have had.
        public let index: UInt64
        /// Why the frame was rejected.
        public let reason: String
    }

    /// The number of records in the log after recovery.
    public let size: UInt64
    /// The size of the last signed checkpoint found, if any.
    public let checkpointSize: UInt64?
    /// The torn final frame that was cut off, if there was one.
    public let tornFrame: TornFrame?
    /// Bytes of a torn final checkpoint-history entry that were cut off.
    public let tornCheckpointHistoryBytes: Int
    /// The size of the checkpoint that was in `checkpoint` but not yet in `checkpoints.log` and was appended to it
    /// (the writer stopped between the two writes).
    public let checkpointAddedToHistory: UInt64?

    /// One sentence per repair, for the operator's log; empty when opening repaired nothing.
    public var messages: [String] {
        var messages: [String] = []
        if let torn = tornFrame {
            messages.append(
                "The receipt log cut \(torn.bytesCut) bytes of an incomplete final record at byte \(torn.offset) of \(torn.path) (\(torn.reason)): the write of record \(torn.index) was never acknowledged, so nothing acknowledged was lost, and index \(torn.index) is reused."
            )
        }
        if tornCheckpointHistoryBytes > 0 {
            messages.append(
                "The receipt log cut \(tornCheckpointHistoryBytes) bytes of an incomplete final entry of \(LogFiles.checkpointHistory) (a checkpoint write interrupted by a crash; the same checkpoint is in \(LogFiles.checkpoint))."
            )
        }
        if let size = checkpointAddedToHistory {
            messages.append(
                "The receipt log appended the checkpoint of size \(size) to \(LogFiles.checkpointHistory): the writer had stopped after writing \(LogFiles.checkpoint) and before appending it."
            )
        }
        return messages
    }
}

/// The log as found on disk, checked against its last signed checkpoint and saved tree state.
struct RecoveredLog {
    var range: CompactRange
    var lastSegment: SegmentName
    var lastSegmentBytes: Int
    var latestCheckpoint: SignedCheckpoint?
    var treeState: TreeState?
    var report: RecoveryReport
}

enum Recovery {
    static func alarm(_ message: String, path: String? = nil, index: UInt64? = nil) -> ReceiptLogError {
        ReceiptLogError(
            .integrityAlarm,
            "\(message). The log was not opened and nothing was changed; preserve the directory and run 'airlock receipts verify' on it",
            path: path,
            index: index
        )
    }

    static func recover(
        directory: String,
        origin: String,
        knownKeys: [NoteVerifierKey]
    ) throws(ReceiptLogError) -> RecoveredLog {
        let (notes, tornHistory) = try CheckpointFiles.readAll(directory: directory)
        var latest: (SignedCheckpoint, String)?
        var lastInHistory: SignedCheckpoint?
        var current: (checkpoint: SignedCheckpoint, bytes: [UInt8])?
        for stored in notes {
            let path = directory + "/" + stored.source
            let parsed: SignedCheckpoint
            do {
                parsed = try SignedCheckpoint(parsing: stored.bytes)
            } catch {
                throw alarm("checkpoint \(stored.source) is malformed: \(error.message)", path: path)
            }
            guard parsed.checkpoint.origin == origin else {
                throw alarm(
                    "checkpoint \(stored.source) is for origin '\(parsed.checkpoint.origin)', not '\(origin)'",
                    path: path
                )
            }
            if latest == nil || parsed.checkpoint.size >= latest!.0.checkpoint.size { latest = (parsed, path) }
            if stored.source == LogFiles.checkpoint { current = (parsed, stored.bytes) } else { lastInHistory = parsed }
        }
        if let (checkpoint, path) = latest {
            switch checkpoint.note.check(keys: knownKeys) {
            case .verified: break
            case .invalidSignature(let name, let id):
                throw alarm(
                    "the signature by \(name)+\(NoteVerifierKey.hex(id)) on the last checkpoint does not verify",
                    path: path
                )
            case .noKnownSignature(let found):
                throw alarm(
                    "the last checkpoint is signed only by keys not configured (\(found.joined(separator: ", "))); after a key rotation pass the old verifier key as a trusted key",
                    path: path
                )
            }
        }

        let statePath = directory + "/" + LogFiles.treeState
        let treeState = try FileSystem.readFile(statePath).map { (bytes) throws(ReceiptLogError) in
            try TreeState(text: String(decoding: bytes, as: UTF8.self), path: statePath)
        }
        let checkpointSize = latest?.0.checkpoint.size
        let trustedSize = max(checkpointSize ?? 0, treeState?.size ?? 0)

        var range = CompactRange()
        var segments = try SegmentName.list(in: directory)
        if segments.isEmpty {
            guard trustedSize == 0 else {
                throw alarm("no segment files, but the last checkpoint or tree state commits to \(trustedSize) records")
            }
            segments = [SegmentName(firstIndex: 0)]
        }
        var torn: RecoveryReport.TornFrame?
        var lastSegmentBytes = 0

        func checkRoots(_ range: CompactRange) throws(ReceiptLogError) {
            if let (checkpoint, path) = latest, range.size == checkpoint.checkpoint.size,
                range.root != checkpoint.checkpoint.root
            {
                throw alarm(
                    "the records do not match the last signed checkpoint at size \(range.size) (root \(range.root.base64), checkpoint says \(checkpoint.checkpoint.root.base64)): records were changed or the log was forked",
                    path: path,
                    index: range.size
                )
            }
            if let treeState, range.size == treeState.size, range != treeState.range {
                throw alarm(
                    "the records do not match the saved tree state at size \(range.size)",
                    path: statePath,
                    index: range.size
                )
            }
        }

        try checkRoots(range)
        for (position, segment) in segments.enumerated() {
            let path = directory + "/" + segment.fileName
            guard segment.firstIndex == range.size else {
                throw alarm(
                    "segment \(segment.fileName) starts at index \(segment.firstIndex) but the segments before it end at \(range.size): a segment is missing or extra",
                    path: path,
                    index: range.size
                )
            }
            let isLast = position == segments.count - 1
            let bytes = try FileSystem.readFile(path) ?? []
            var offset = 0
            scan: while true {
                let result = bytes.withUnsafeBytes { Frame.parse($0, at: offset) }
                var failure: String?
                switch result {
                case .end:
                    break scan
                case .invalid(_, let reason):
                    failure = reason
                case .frame(let frame):
                    if range.size >= trustedSize {
                        let actual = bytes.withUnsafeBytes {
                            RFC6962.leafHash(pointer: UnsafeRawBufferPointer(rebasing: $0[frame.leaf]))
                        }
                        if actual != frame.storedHash { failure = "leaf bytes do not match the stored leaf hash" }
                    }
                    if failure == nil {
                        range.append(frame.storedHash)
                        offset = frame.end
                        try checkRoots(range)
                        continue scan
                    }
                }
                let reason = failure ?? "invalid frame"
                guard isLast, range.size >= trustedSize else {
                    throw alarm(
                        "record \(range.size) in \(segment.fileName) at byte \(offset) is damaged (\(reason))",
                        path: path,
                        index: range.size
                    )
                }
                torn = .init(path: path, offset: offset, bytesCut: bytes.count - offset, index: range.size, reason: reason)
                break scan
            }
            lastSegmentBytes = offset
        }
        guard range.size >= trustedSize else {
            throw alarm(
                "the log has \(range.size) records but its last signed checkpoint or saved tree state commits to \(trustedSize): records were deleted or the log was truncated",
                index: range.size
            )
        }

        if let torn {
            let fd = try syscall("open", path: torn.path) { open(torn.path, O_WRONLY | O_CLOEXEC) }
            defer { close(fd) }
            try syscall("ftruncate", path: torn.path) { ftruncate(fd, off_t(torn.offset)) }
            try syscall("fsync", path: torn.path) { fsync(fd) }
        }
        if tornHistory > 0 { try CheckpointFiles.cutTornHistory(directory: directory, bytes: tornHistory) }
        // `checkpoint` is written before the history entry: a crash between the two leaves it newer.
        var addedToHistory: UInt64?
        if let current, current.checkpoint.checkpoint.size > lastInHistory?.checkpoint.size ?? 0 {
            try CheckpointFiles.appendHistory(current.bytes, directory: directory)
            addedToHistory = current.checkpoint.checkpoint.size
        }

        return RecoveredLog(
            range: range,
            lastSegment: segments.last!,
            lastSegmentBytes: lastSegmentBytes,
            latestCheckpoint: latest?.0,
            treeState: treeState,
            report: RecoveryReport(
                size: range.size,
                checkpointSize: checkpointSize,
                tornFrame: torn,
                tornCheckpointHistoryBytes: tornHistory,
                checkpointAddedToHistory: addedToHistory
            )
        )
    }
}
