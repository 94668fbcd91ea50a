/// Tails a log directory: each ``poll(limit:)`` returns the records completed since the previous one.
///
/// It reads only the bytes added since the last poll and never locks or changes the log.
public struct LogFollower: Sendable {
    /// The log directory.
    public let directory: String
    /// The index of the next record to return.
    public private(set) var nextIndex: UInt64
    private var segment: SegmentName?
    private var offset = 0

    /// Follows `directory` starting at record `index`.
    public init(directory: String, from index: UInt64 = 0) {
        self.directory = directory
        self.nextIndex = index
    }

    /// The records that became complete since the last call, at most `limit`.
    public mutating func poll(limit: Int = 10_000) throws(ReceiptLogError) -> [ReceiptEntry] {
        var found: [ReceiptEntry] = []
        while found.count < limit {
            if segment == nil {
                guard let start = try SegmentName.list(in: directory).last(where: { $0.firstIndex <= nextIndex }) else {
                    return found
                }
                segment = start
                offset = 0
            }
            let current = segment!
            let path = directory + "/" + current.fileName
            let bytes = try FileSystem.readFile(path, from: offset) ?? []
            var position = 0
            // At offset 0 the scan starts at the segment's first record and skips up to `nextIndex`; later polls
            // resume exactly at `nextIndex`.
            var index = offset == 0 ? current.firstIndex : nextIndex
            var progressed = false
            scan: while found.count < limit {
                switch bytes.withUnsafeBytes({ Frame.parse($0, at: position) }) {
                case .end, .invalid:
                    break scan
                case .frame(let frame):
                    if index >= nextIndex {
                        let leaf = Array(bytes[frame.leaf])
                        guard RFC6962.leafHash(leaf) == frame.storedHash else {
                            throw ReceiptLogError(
                                .integrityAlarm,
                                "record \(index) does not match its stored hash",
                                path: path,
                                index: index
                            )
                        }
                        found.append(ReceiptEntry(index: index, leaf: leaf, leafHash: frame.storedHash))
                        nextIndex = index + 1
                    }
                    index += 1
                    position = frame.end
                    progressed = true
                }
            }
            offset += position
            if found.count >= limit { break }
            let next = SegmentName(firstIndex: nextIndex)
            if FileSystem.exists(directory + "/" + next.fileName), next != current {
                segment = next
                offset = 0
                continue
            }
            if !progressed { break }
        }
        return found
    }
}
