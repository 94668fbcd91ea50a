#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A root the tree must have at some size, from a checkpoint in the log or the trusted checkpoint.
struct ExpectedRoot {
    let root: MerkleHash
    let source: String
    let trusted: Bool
}

/// The per-record part of verification, kept free of allocations so that it checks over a million records a second.
struct RecordScan {
    private(set) var range = CompactRange()
    private(set) var origin: String?
    private var originBytes: [UInt8]?
    private var kinds: [([UInt8], UInt64)] = []
    /// The signing keys announced by admin records, with the index of each announcement, in order.
    private(set) var announcements: [(index: UInt64, keys: [NoteVerifierKey])] = []

    init(origin: String?) {
        self.origin = origin
        if let origin { originBytes = Self.escaped(origin) }
    }

    private static func escaped(_ string: String) -> [UInt8] {
        var out: [UInt8] = []
        CanonicalJSON.appendString(string, to: &out)
        return Array(out.dropFirst().dropLast())
    }

    func kindCounts() -> [String: UInt64] {
        var result: [String: UInt64] = [:]
        for (raw, count) in kinds {
            result[raw.withUnsafeBytes { CanonicalRecordReader.text($0) }, default: 0] += count
        }
        return result
    }

    /// Compares the current root with every checkpoint of the current size.
    func check(size: UInt64, against expected: [UInt64: [ExpectedRoot]], directory: String) -> VerificationFailure? {
        guard let list = expected[size] else { return nil }
        let root = range.root
        for item in list where item.root != root {
            let what = item.trusted ? "the trusted checkpoint" : "checkpoint \(item.source)"
            return VerificationFailure(
                reason: .rootMismatch,
                index: nil,
                checkpointSize: size,
                path: item.trusted ? "trusted checkpoint" : directory + "/" + item.source,
                message: "the tree of the first \(size) records has root \(root.base64) but \(what) says \(item.root.base64): records were altered or the log forked"
            )
        }
        return nil
    }

    private func failure(
        _ reason: VerificationFailure.Reason,
        _ message: String,
        path: String
    ) -> VerificationFailure {
        VerificationFailure(reason: reason, index: range.size, checkpointSize: nil, path: path, message: message)
    }

    /// Sizes at which the root must be compared, ascending, and the position of the next one not yet reached.
    private var checkSizes: [UInt64] = []
    private var nextCheck = 0
    private var nextCheckSize = UInt64.max

    /// Sets the sizes at which ``check(size:against:directory:)`` must run during the scan.
    mutating func schedule(_ expected: [UInt64: [ExpectedRoot]]) {
        checkSizes = expected.keys.filter { $0 > range.size }.sorted()
        nextCheck = 0
        nextCheckSize = checkSizes.first ?? UInt64.max
    }

    /// The outcome of scanning a run of bytes of a segment.
    enum ChunkResult {
        /// Every whole frame before this offset (relative to the run) was checked; the rest needs more bytes.
        case consumed(Int)
        case failed(VerificationFailure)
    }

    /// Scans whole frames in `buffer`, which starts at byte `base` of the segment. `atEnd`: the buffer reaches the
    /// end of the file, so an incomplete frame is a torn write (or damage) rather than a frame still to be read.
    mutating func scanFrames(
        _ buffer: UnsafeMutableRawBufferPointer,
        base: Int,
        atEnd: Bool,
        path: String,
        isLast: Bool,
        expected: [UInt64: [ExpectedRoot]],
        directory: String,
        warnings: inout [String]
    ) -> ChunkResult {
        var offset = 0
        let count = buffer.count
        let base0 = UnsafeRawPointer(buffer.baseAddress)
        while true {
            // The common case inline: a whole, well-formed frame header and leaf in the buffer. Anything else
            // (end, incomplete or out-of-range length) goes through Frame.parse for the exact verdict and message.
            if let start = base0, count - offset >= Frame.headerBytes {
                let length = Int(UInt32(bigEndian: start.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                let leafStart = offset + Frame.headerBytes
                if length >= 1, length <= Frame.maxLeafBytes, count - leafStart >= length {
                    let stored = MerkleHash(copying: start + offset + 4)
                    if let problem = scanFrame(buffer, leafStart: leafStart, end: leafStart + length, stored: stored, path: path, expected: expected, directory: directory) {
                        return .failed(problem)
                    }
                    offset = leafStart + length
                    continue
                }
            }
            switch Frame.parse(UnsafeRawBufferPointer(buffer), at: offset) {
            case .end:
                return .consumed(offset)
            case .invalid(let at, let reason):
                let incomplete = reason.hasPrefix("incomplete")
                if incomplete && !atEnd { return .consumed(offset) }
                if isLast && incomplete {
                    warnings.append(
                        "the last segment ends in an incomplete frame at byte \(base + at) (\(reason)): a write that was never acknowledged; the log cuts it when next opened"
                    )
                    return .consumed(buffer.count)
                }
                return .failed(failure(.damagedFrame, "frame at byte \(base + at): \(reason)", path: path))
            case .frame(let frame):
                if let problem = scanFrame(buffer, leafStart: frame.leaf.lowerBound, end: frame.end, stored: frame.storedHash, path: path, expected: expected, directory: directory) {
                    return .failed(problem)
                }
                offset = frame.end
            }
        }
    }

    /// Checks one whole frame: leaf hash, record, tree, and the roots due at the new size.
    @inline(__always)
    private mutating func scanFrame(
        _ buffer: UnsafeMutableRawBufferPointer,
        leafStart: Int,
        end: Int,
        stored: MerkleHash,
        path: String,
        expected: [UInt64: [ExpectedRoot]],
        directory: String
    ) -> VerificationFailure? {
        // The byte before the leaf (the last byte of the stored hash, already copied out) is overwritten with the
        // 0x00 prefix so that the leaf hash is one contiguous update.
        buffer[leafStart - 1] = 0
        let hash = RFC6962.leafHash(prefixed: UnsafeRawBufferPointer(rebasing: buffer[(leafStart - 1)..<end]))
        guard hash == stored else {
            return failure(
                .leafHashMismatch,
                "the record bytes hash to \(hash.hex) but the stored leaf hash is \(stored.hex): the record or its stored hash was altered",
                path: path
            )
        }
        if let problem = checkRecord(UnsafeRawBufferPointer(rebasing: buffer[leafStart..<end]), path: path) { return problem }
        range.append(hash)
        if range.size == nextCheckSize {
            nextCheck += 1
            nextCheckSize = nextCheck < checkSizes.count ? checkSizes[nextCheck] : UInt64.max
            if let problem = check(size: range.size, against: expected, directory: directory) { return problem }
        }
        return nil
    }

    /// The most recently seen kind and its slot in `kinds`, so that runs of one kind skip the search.
    private var lastKind = -1

    private static func equal(_ raw: UnsafeRawBufferPointer, _ bytes: [UInt8]) -> Bool {
        guard raw.count == bytes.count else { return false }
        if raw.isEmpty { return true }
        return bytes.withUnsafeBytes { memcmp(raw.baseAddress!, $0.baseAddress!, raw.count) == 0 }
    }

    private mutating func checkRecord(_ leaf: UnsafeRawBufferPointer, path: String) -> VerificationFailure? {
        var fields = RecordFields()
        if let error = CanonicalRecordValidator.validate(leaf, into: &fields) {
            return failure(.nonCanonicalRecord, "byte \(error.offset) of the record: \(error.reason)", path: path)
        }
        if let problem = RecordSchema.check(fields) { return failure(problem.reason, problem.message, path: path) }
        // RecordSchema.check guarantees these.
        guard let index = fields.index, let recordOrigin = fields.origin, let kind = fields.kind else {
            return failure(.invalidRecord, "a required field (index, origin, time, kind) is missing", path: path)
        }
        guard index >= 0, UInt64(index) == range.size else {
            return failure(
                .wrongIndex,
                "the record at position \(range.size) says index \(index): records were deleted, inserted or reordered",
                path: path
            )
        }
        if let originBytes {
            guard Self.equal(recordOrigin, originBytes) else {
                return failure(
                    .wrongOrigin,
                    "the record's origin '\(CanonicalRecordReader.text(recordOrigin))' is not '\(origin ?? "")'",
                    path: path
                )
            }
        } else {
            origin = CanonicalRecordReader.text(recordOrigin)
            originBytes = Array(recordOrigin)
        }
        if let requestIndex = fields.requestIndex, requestIndex >= index {
            return failure(
                .invalidValue,
                "field 'request_index' is \(requestIndex), which is not an earlier record",
                path: path
            )
        }
        if range.size == 0 && !RecordSchema.isKeyAnnouncement(fields) {
            return failure(
                .invalidFirstRecord,
                "record 0 must be an admin record with reason \(RecordSchema.keysChanged) announcing the signing keys",
                path: path
            )
        }
        if let keys = fields.keys,
            case .success(let parsed) = RecordSchema.parseKeys(CanonicalRecordReader.text(keys))
        {
            announcements.append((range.size, parsed))
        }
        if lastKind >= 0 && Self.equal(kind, kinds[lastKind].0) {
            kinds[lastKind].1 += 1
        } else if let slot = kinds.firstIndex(where: { Self.equal(kind, $0.0) }) {
            kinds[slot].1 += 1
            lastKind = slot
        } else {
            kinds.append((Array(kind), 1))
            lastKind = kinds.count - 1
        }
        return nil
    }
}
