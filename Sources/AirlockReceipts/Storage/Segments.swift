/// Segment files: `receipts-<first index, 20 decimal digits>.seg`, each a run of frames; a new segment starts
/// when the current one reaches the configured size.
struct SegmentName: Comparable, Sendable {
    static let prefix = "receipts-"
    static let suffix = ".seg"

    let firstIndex: UInt64

    var fileName: String {
        let digits = String(firstIndex)
        return Self.prefix + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + Self.suffix
    }

    init(firstIndex: UInt64) {
        self.firstIndex = firstIndex
    }

    init?(fileName: String) {
        guard fileName.hasPrefix(Self.prefix), fileName.hasSuffix(Self.suffix) else { return nil }
        let digits = fileName.dropFirst(Self.prefix.count).dropLast(Self.suffix.count)
        guard digits.count == 20, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = UInt64(digits) else {
            return nil
        }
        self.firstIndex = value
    }

    static func < (lhs: SegmentName, rhs: SegmentName) -> Bool { lhs.firstIndex < rhs.firstIndex }

    /// A file name with the segment prefix or suffix that does not parse as a segment's.
    static func looksLikeSegment(_ fileName: String) -> Bool {
        (fileName.hasPrefix(prefix) || fileName.hasSuffix(suffix)) && SegmentName(fileName: fileName) == nil
    }

    /// The segments in `directory`, in index order.
    static func list(in directory: String) throws(ReceiptLogError) -> [SegmentName] {
        try FileSystem.list(directory).compactMap { SegmentName(fileName: $0) }.sorted()
    }
}

/// File names inside a log directory.
enum LogFiles {
    static let checkpoint = "checkpoint"
    static let checkpointHistory = "checkpoints.log"
    static let treeState = "tree.state"
    static let lock = "LOCK"
}
