#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Verifies a log directory offline, as an auditor would (docs/receipts.md section 6): every leaf hash, every record's
/// canonical form and schema, index and origin, the tree root, every checkpoint signature, root and signer, the
/// checkpoint files against each other, and consistency with a previously trusted checkpoint.
public struct Auditor: Sendable {
    /// The log directory.
    public let directory: String
    /// The verifier keys the auditor trusts. Signatures by other keys are ignored.
    public let keys: [NoteVerifierKey]
    /// The witness cosignatures the newest checkpoint must carry, if any.
    public let witnessPolicy: WitnessPolicy?

    /// An auditor for `directory` trusting `keys`; with `witnessPolicy`, the log's newest checkpoint counts as
    /// verified only with a quorum of valid witness cosignatures.
    public init(directory: String, keys: [NoteVerifierKey], witnessPolicy: WitnessPolicy? = nil) {
        self.directory = directory
        self.keys = keys
        self.witnessPolicy = witnessPolicy
    }

    /// Verifies the log. Integrity failures are reported in ``VerificationReport/failure``; only a directory that
    /// cannot be read throws.
    ///
    /// - Parameter trustedCheckpoint: a signed checkpoint saved from an earlier verification. Without it a log
    ///   truncated together with its checkpoints cannot be told from a shorter log, and the report says so.
    public func verify(trustedCheckpoint: [UInt8]? = nil) throws(ReceiptLogError) -> VerificationReport {
        var report = VerificationReport()
        report.failure = try verify(trustedCheckpoint: trustedCheckpoint, into: &report)
        return report
    }

    private func checkpointFailure(
        _ reason: VerificationFailure.Reason,
        _ message: String,
        size: UInt64?,
        source: String
    ) -> VerificationFailure {
        VerificationFailure(
            reason: reason,
            index: nil,
            checkpointSize: size,
            path: source == "trusted checkpoint" ? source : directory + "/" + source,
            message: message
        )
    }

    /// Parses a note and checks its signatures against the auditor's keys.
    private func checkNote(
        _ bytes: [UInt8],
        source: String
    ) -> Result<(SignedCheckpoint, [NoteVerifierKey]), VerificationFailure> {
        let parsed: SignedCheckpoint
        do {
            parsed = try SignedCheckpoint(parsing: bytes)
        } catch {
            return .failure(checkpointFailure(.malformedCheckpoint, error.message, size: nil, source: source))
        }
        switch parsed.note.check(keys: keys) {
        case .verified(let by):
            return .success((parsed, by))
        case .invalidSignature(let name, let id):
            return .failure(
                checkpointFailure(
                    .badSignature,
                    "the signature by \(name)+\(NoteVerifierKey.hex(id)) does not verify: the checkpoint was altered or forged",
                    size: parsed.checkpoint.size,
                    source: source
                )
            )
        case .noKnownSignature(let found):
            return .failure(
                checkpointFailure(
                    .noKnownSignature,
                    "no signature by a trusted key (found: \(found.joined(separator: ", ")); trusted: \(keys.map { "\($0.name)+\($0.keyIDHex)" }.joined(separator: ", ")))",
                    size: parsed.checkpoint.size,
                    source: source
                )
            )
        }
    }

    /// Segments are read in chunks of this size into one reused buffer: no allocation or page faults per segment,
    /// and each chunk is still in the cache while its records are hashed and checked.
    static let readChunkBytes = 256 << 10

    /// Reads one segment chunk by chunk and scans its frames. A missing file counts as empty.
    private func scanSegment(
        path: String,
        isLast: Bool,
        scan: inout RecordScan,
        buffer: ReadBuffer,
        expected: [UInt64: [ExpectedRoot]],
        warnings: inout [String]
    ) throws(ReceiptLogError) -> VerificationFailure? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            try syscall("open for reading", path: path) { fd }
        }
        defer { close(fd) }
        #if os(Linux)
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        #endif
        var base = 0  // file offset of the buffer's first byte
        var filled = 0
        var fileOffset = 0
        while true {
            var atEnd = false
            while filled < buffer.capacity {
                let n = try syscall("read", path: path) {
                    pread(fd, buffer.start + filled, buffer.capacity - filled, off_t(fileOffset))
                }
                if n == 0 {
                    atEnd = true
                    break
                }
                filled += n
                fileOffset += n
            }
            let result = scan.scanFrames(
                UnsafeMutableRawBufferPointer(start: buffer.start, count: filled),
                base: base,
                atEnd: atEnd,
                path: path,
                isLast: isLast,
                expected: expected,
                directory: directory,
                warnings: &warnings
            )
            switch result {
            case .failed(let failure):
                return failure
            case .consumed(let consumed):
                if atEnd { return nil }
                let rest = filled - consumed
                if rest > 0 { (buffer.start).copyMemory(from: buffer.start + consumed, byteCount: rest) }
                base += consumed
                filled = rest
            }
        }
    }

    /// The newest checkpoint must carry the policy's quorum of witness cosignatures (c2sp.org/tlog-policy).
    private func checkWitnesses(
        _ policy: WitnessPolicy,
        checkpoints: [(SignedCheckpoint, [NoteVerifierKey], String)],
        into report: inout VerificationReport
    ) -> VerificationFailure? {
        // The last of the largest: the `checkpoint` file comes after its copy in the history.
        let largest = checkpoints.map(\.0.checkpoint.size).max()
        guard let newest = checkpoints.last(where: { $0.0.checkpoint.size == largest }) else {
            return checkpointFailure(
                .witnessQuorum,
                "the log has no checkpoint, so none can carry the \(policy.quorum) witness cosignature(s) required",
                size: nil,
                source: LogFiles.checkpoint
            )
        }
        let size = newest.0.checkpoint.size
        // The newest checkpoint may be stored more than once (the `checkpoint` file and its history entry); the
        // cosignatures on any copy of the same text count.
        var note = newest.0.note
        for (other, _, _) in checkpoints where other.checkpoint.size == size && other.note.text == note.text {
            note = (try? note.adding(other.note.signatures)) ?? note
        }
        switch policy.check(note) {
        case .success(let by):
            report.cosignedBy = by.map(\.name)
            return nil
        case .failure(let shortfall):
            return checkpointFailure(
                .witnessQuorum,
                policy.explain(shortfall, checkpoint: "the newest checkpoint"),
                size: size,
                source: newest.2
            )
        }
    }

    private func verify(
        trustedCheckpoint: [UInt8]?,
        into report: inout VerificationReport
    ) throws(ReceiptLogError) -> VerificationFailure? {
        guard !keys.isEmpty else {
            return VerificationFailure(
                reason: .noKeys,
                index: nil,
                checkpointSize: nil,
                path: nil,
                message: "no verifier keys given; pass the log's public key with --key"
            )
        }

        // Checkpoints first: their sizes tell where the tree root must be compared during the scan.
        var expected: [UInt64: [ExpectedRoot]] = [:]
        var checkpoints: [(SignedCheckpoint, [NoteVerifierKey], String)] = []
        let stored = try CheckpointFiles.readAll(directory: directory)
        if stored.tornHistoryBytes > 0 {
            report.warnings.append(
                "the last \(stored.tornHistoryBytes) bytes of \(LogFiles.checkpointHistory) are an incomplete entry (cut when the log is next opened)"
            )
        }
        for note in stored.notes {
            switch checkNote(note.bytes, source: note.source) {
            case .failure(let failure): return failure
            case .success(let (checkpoint, by)):
                checkpoints.append((checkpoint, by, note.source))
                expected[checkpoint.checkpoint.size, default: []].append(
                    ExpectedRoot(root: checkpoint.checkpoint.root, source: note.source, trusted: false)
                )
            }
        }
        report.checkpointsChecked = checkpoints.count
        if let newest = checkpoints.max(by: { $0.0.checkpoint.size < $1.0.checkpoint.size }) {
            report.latestCheckpoint = newest.0
            report.signedBy = newest.1.map(\.name)
            report.origin = newest.0.checkpoint.origin
        }
        for (checkpoint, _, source) in checkpoints where checkpoint.checkpoint.origin != report.origin {
            return checkpointFailure(
                .malformedCheckpoint,
                "origin '\(checkpoint.checkpoint.origin)' differs from the log's '\(report.origin ?? "")'",
                size: checkpoint.checkpoint.size,
                source: source
            )
        }

        if let witnessPolicy, let failure = checkWitnesses(witnessPolicy, checkpoints: checkpoints, into: &report) {
            return failure
        }

        var trusted: SignedCheckpoint?
        var signed = checkpoints
        if let trustedCheckpoint {
            switch checkNote(trustedCheckpoint, source: "trusted checkpoint") {
            case .failure(let failure): return failure
            case .success(let (checkpoint, by)):
                trusted = checkpoint
                signed.append((checkpoint, by, "trusted checkpoint"))
                report.trustedCheckpoint = checkpoint.checkpoint
                if let origin = report.origin, origin != checkpoint.checkpoint.origin {
                    return checkpointFailure(
                        .rootMismatch,
                        "the trusted checkpoint is for origin '\(checkpoint.checkpoint.origin)', this log is '\(origin)'",
                        size: checkpoint.checkpoint.size,
                        source: "trusted checkpoint"
                    )
                }
                report.origin = report.origin ?? checkpoint.checkpoint.origin
                expected[checkpoint.checkpoint.size, default: []].append(
                    ExpectedRoot(root: checkpoint.checkpoint.root, source: "trusted checkpoint", trusted: true)
                )
            }
        } else {
            report.warnings.append(
                "no trusted checkpoint given: a log truncated together with its checkpoints cannot be ruled out; save the latest checkpoint and pass it with --trusted-checkpoint next time"
            )
        }

        var scan = RecordScan(origin: report.origin)
        if let failure = scan.check(size: 0, against: expected, directory: directory) { return failure }
        scan.schedule(expected)
        let buffer = ReadBuffer(capacity: Self.readChunkBytes)
        // A file named like a segment but not exactly one (renamed, or left by a tool) would be skipped, and the
        // records in it with it: it is reported instead.
        if let stray = try FileSystem.list(directory).sorted().first(where: SegmentName.looksLikeSegment) {
            return VerificationFailure(
                reason: .segmentGap,
                index: nil,
                checkpointSize: nil,
                path: directory + "/" + stray,
                message: "\(stray) is named like a segment but is not one (segments are receipts-<20 digits>.seg): a segment was renamed or a file was left in the log directory; restore its name or move it out"
            )
        }
        let segments = try SegmentName.list(in: directory)
        report.segments = segments.count
        for (position, segment) in segments.enumerated() {
            let path = directory + "/" + segment.fileName
            guard segment.firstIndex == scan.range.size else {
                return VerificationFailure(
                    reason: .segmentGap,
                    index: scan.range.size,
                    checkpointSize: nil,
                    path: path,
                    message: "segment starts at index \(segment.firstIndex) but the previous segments end at \(scan.range.size): a segment file is missing or extra"
                )
            }
            if let failure = try scanSegment(
                path: path,
                isLast: position == segments.count - 1,
                scan: &scan,
                buffer: buffer,
                expected: expected,
                warnings: &report.warnings
            ) {
                return failure
            }
        }
        report.size = scan.range.size
        report.root = scan.range.root
        report.kinds = scan.kindCounts()
        report.origin = report.origin ?? scan.origin

        for (size, list) in expected.sorted(by: { $0.key < $1.key }) where size > scan.range.size {
            let item = list[0]
            return checkpointFailure(
                .truncated,
                "the log has \(scan.range.size) records but \(item.trusted ? "the trusted checkpoint" : "checkpoint \(item.source)") commits to \(size): records were deleted from the end",
                size: size,
                source: item.source
            )
        }
        if let failure = checkFiles(
            current: checkpoints.last { $0.2 == LogFiles.checkpoint }?.0,
            lastInHistory: checkpoints.last { $0.2 != LogFiles.checkpoint }?.0,
            trusted: trusted,
            warnings: &report.warnings
        ) {
            return failure
        }
        return checkSigners(signed, announcements: scan.announcements)
    }

    /// The keys that sign a checkpoint of size N are those announced by the last key announcement among its first
    /// N records (docs/receipts.md section 5.4): every announced key has a signature line on it, and every trusted
    /// key that verified it is announced. Other signatures (a witness's cosignature) are allowed.
    private func checkSigners(
        _ signed: [(SignedCheckpoint, [NoteVerifierKey], String)],
        announcements: [(index: UInt64, keys: [NoteVerifierKey])]
    ) -> VerificationFailure? {
        for (checkpoint, by, source) in signed {
            let size = checkpoint.checkpoint.size
            guard let announcement = announcements.last(where: { $0.index < size }) else { continue }
            let announced = announcement.keys
            let list = announced.map { "\($0.name)+\($0.keyIDHex)" }.joined(separator: ", ")
            for key in by where !announced.contains(key) {
                return checkpointFailure(
                    .keyNotAnnounced,
                    "it verifies with \(key.name)+\(key.keyIDHex), but record \(announcement.index) announces the signing keys for its records as \(list): the key was never announced in the log",
                    size: size,
                    source: source
                )
            }
            for key in announced
            where !checkpoint.note.signatures.contains(where: { $0.name == key.name && $0.keyID == key.keyID }) {
                return checkpointFailure(
                    .announcedKeyMissing,
                    "it has no signature by \(key.name)+\(key.keyIDHex), which record \(announcement.index) announces as a signing key for its records",
                    size: size,
                    source: source
                )
            }
        }
        return nil
    }

    /// The rules for the two checkpoint files (docs/receipts.md section 6, step 6): `checkpoint` is not older than
    /// the last entry of `checkpoints.log`, neither is older than the trusted checkpoint, and with a trusted
    /// checkpoint neither may be missing.
    private func checkFiles(
        current: SignedCheckpoint?,
        lastInHistory: SignedCheckpoint?,
        trusted: SignedCheckpoint?,
        warnings: inout [String]
    ) -> VerificationFailure? {
        let history = LogFiles.checkpointHistory
        if let trusted {
            let trustedSize = trusted.checkpoint.size
            for (checkpoint, source) in [(current, LogFiles.checkpoint), (lastInHistory, history)] {
                guard let checkpoint, checkpoint.checkpoint.size < trustedSize else { continue }
                let what = source == history ? "the last entry of \(history)" : source
                return checkpointFailure(
                    .rolledBack,
                    "\(what) has size \(checkpoint.checkpoint.size), older than the trusted checkpoint (size \(trustedSize)): the checkpoints were rolled back",
                    size: checkpoint.checkpoint.size,
                    source: source
                )
            }
            let files = [(current, LogFiles.checkpoint), (lastInHistory, history)]
            for (checkpoint, source) in files where checkpoint == nil {
                return checkpointFailure(
                    .missingCheckpoint,
                    "\(source) is missing or empty, but the trusted checkpoint (size \(trustedSize)) shows the log was signed: it was deleted",
                    size: nil,
                    source: source
                )
            }
        }
        switch (current, lastInHistory) {
        case (nil, nil):
            warnings.append("the log has no checkpoint yet: nothing in it is signed")
        case (nil, let last?):
            return checkpointFailure(
                .missingCheckpoint,
                "\(LogFiles.checkpoint) is missing but \(history) holds checkpoints up to size \(last.checkpoint.size); the writer never leaves this state: it was deleted",
                size: nil,
                source: LogFiles.checkpoint
            )
        case (_?, nil):
            warnings.append(
                "\(history) is missing or empty: the checkpoint history cannot be checked (the writer leaves this only if it stopped before appending its first checkpoint; opening the log completes it)"
            )
        case (let current?, let last?):
            if current.checkpoint.size < last.checkpoint.size {
                return checkpointFailure(
                    .checkpointNotLatest,
                    "\(LogFiles.checkpoint) has size \(current.checkpoint.size) but \(history) already holds size \(last.checkpoint.size): an older checkpoint was put in its place",
                    size: current.checkpoint.size,
                    source: LogFiles.checkpoint
                )
            }
            if current.checkpoint.size > last.checkpoint.size {
                warnings.append(
                    "\(LogFiles.checkpoint) (size \(current.checkpoint.size)) is newer than the last entry of \(history) (size \(last.checkpoint.size)): the writer stopped between the two writes, or entries were cut from \(history); opening the log appends it"
                )
            }
        }
        return nil
    }
}

/// A reusable, uninitialised byte buffer for chunked reads.
final class ReadBuffer {
    let start: UnsafeMutableRawPointer
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        start = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
    }

    deinit { start.deallocate() }
}
