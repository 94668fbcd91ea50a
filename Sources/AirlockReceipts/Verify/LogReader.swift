#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a log directory without locking or changing it: for `show`, `export`, `prove` and `follow`.
public struct LogReader: Sendable {
    /// The log directory.
    public let directory: String

    /// A reader for `directory`.
    public init(directory: String) {
        self.directory = directory
    }

    /// Calls `body` for each complete, hash-valid record with index in `range`, in order, until it returns false.
    /// Stops silently at an incomplete final frame; throws on a damaged one.
    public func forEach(
        in range: Range<UInt64> = 0..<UInt64.max,
        _ body: (ReceiptEntry) throws -> Bool
    ) throws {
        let segments = try SegmentName.list(in: directory)
        for (position, segment) in segments.enumerated() {
            if position + 1 < segments.count, segments[position + 1].firstIndex <= range.lowerBound { continue }
            if segment.firstIndex >= range.upperBound { return }
            let path = directory + "/" + segment.fileName
            let bytes = try FileSystem.readFile(path) ?? []
            var offset = 0
            var index = segment.firstIndex
            while true {
                switch bytes.withUnsafeBytes({ Frame.parse($0, at: offset) }) {
                case .end:
                    break
                case .invalid(_, let reason):
                    if position == segments.count - 1 { return }
                    throw ReceiptLogError(.integrityAlarm, "record \(index) is damaged: \(reason)", path: path, index: index)
                case .frame(let frame):
                    if index >= range.upperBound { return }
                    if index >= range.lowerBound {
                        let leaf = Array(bytes[frame.leaf])
                        guard RFC6962.leafHash(leaf) == frame.storedHash else {
                            throw ReceiptLogError(
                                .integrityAlarm,
                                "record \(index) does not match its stored hash; run 'airlock receipts verify'",
                                path: path,
                                index: index
                            )
                        }
                        if try !body(ReceiptEntry(index: index, leaf: leaf, leafHash: frame.storedHash)) { return }
                    }
                    index += 1
                    offset = frame.end
                    continue
                }
                break
            }
        }
    }

    /// The record at `index`.
    public func entry(at index: UInt64) throws -> ReceiptEntry? {
        // No log holds 2^64 records; the range below would overflow for the last index.
        guard index < UInt64.max else { return nil }
        var found: ReceiptEntry?
        try forEach(in: index..<(index + 1)) { entry in
            found = entry
            return false
        }
        return found
    }

    /// The stored leaf hashes of all complete records (not re-hashed; run the verifier for that).
    public func storedLeafHashes() throws(ReceiptLogError) -> [MerkleHash] {
        var hashes: [MerkleHash] = []
        let segments = try SegmentName.list(in: directory)
        for segment in segments {
            let path = directory + "/" + segment.fileName
            guard segment.firstIndex == UInt64(hashes.count) else {
                throw ReceiptLogError(.integrityAlarm, "segment gap before \(segment.fileName)", path: path)
            }
            let bytes = try FileSystem.readFile(path) ?? []
            var offset = 0
            scan: while true {
                switch bytes.withUnsafeBytes({ Frame.parse($0, at: offset) }) {
                case .end, .invalid: break scan
                case .frame(let frame):
                    hashes.append(frame.storedHash)
                    offset = frame.end
                }
            }
        }
        return hashes
    }

    /// The newest signed checkpoint in the directory, parsed but not verified.
    public func latestCheckpoint() throws(ReceiptLogError) -> SignedCheckpoint? {
        var latest: SignedCheckpoint?
        for stored in try CheckpointFiles.readAll(directory: directory).notes {
            guard let parsed = try? SignedCheckpoint(parsing: stored.bytes) else { continue }
            if latest == nil || parsed.checkpoint.size >= latest!.checkpoint.size { latest = parsed }
        }
        return latest
    }
}
