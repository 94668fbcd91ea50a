/// The saved tree state: size, root, the compact range (frontier) and the signing keys in force, written with a
/// checkpoint by temp file + fsync + rename + directory fsync.
///
///     airlock-receipts-tree-state/v1
///     size <decimal>
///     root <base64>
///     range <base64> <base64> ...
///     keys <verifier key> <verifier key> ...
struct TreeState: Sendable, Equatable {
    static let header = "airlock-receipts-tree-state/v1"

    var range: CompactRange
    var keys: [String]

    var size: UInt64 { range.size }

    var text: String {
        var out = Self.header + "\n"
        out += "size \(range.size)\n"
        out += "root \(range.root.base64)\n"
        out += (["range"] + range.hashes.map(\.base64)).joined(separator: " ") + "\n"
        out += (["keys"] + keys).joined(separator: " ") + "\n"
        return out
    }

    init(range: CompactRange, keys: [String]) {
        self.range = range
        self.keys = keys
    }

    init(text: String, path: String) throws(ReceiptLogError) {
        func bad(_ what: String) -> ReceiptLogError {
            ReceiptLogError(
                .integrityAlarm,
                "the saved tree state is unreadable (\(what)); the log was not opened. Run 'airlock receipts verify' on the directory",
                path: path
            )
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.split(separator: " ", omittingEmptySubsequences: false)
        }
        guard lines.count >= 5, lines[0].joined() == Self.header, lines[1].first == "size", lines[1].count == 2,
            let size = Decimal.parseUInt64(lines[1][1]), lines[2].first == "root", lines[2].count == 2,
            let root = MerkleHash(base64: lines[2][1]), lines[3].first == "range", lines[4].first == "keys"
        else { throw bad("wrong layout") }
        var hashes: [MerkleHash] = []
        for word in lines[3].dropFirst() {
            guard let hash = MerkleHash(base64: word) else { throw bad("bad range hash") }
            hashes.append(hash)
        }
        guard let range = CompactRange(size: size, hashes: hashes), range.root == root else {
            throw bad("range does not match size and root")
        }
        self.range = range
        self.keys = lines[4].dropFirst().map(String.init)
    }
}
