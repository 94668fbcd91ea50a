import Foundation

/// An offline-verifiable inclusion proof in the c2sp.org/tlog-proof@v1 text format: the record's index, the RFC 6962
/// inclusion path, and the signed checkpoint it leads to. The `extra` line carries the exact leaf bytes.
public struct TLogProof: Sendable, Hashable {
    static let header = "c2sp.org/tlog-proof@v1"

    /// The exact stored leaf bytes (one canonical JSON record), if included.
    public let leaf: [UInt8]?
    /// The record index.
    public let index: UInt64
    /// The inclusion path, from the leaf's sibling up to the root's child.
    public let path: [MerkleHash]
    /// The checkpoint the path leads to.
    public let checkpoint: SignedCheckpoint

    /// Creates a proof.
    public init(leaf: [UInt8]?, index: UInt64, path: [MerkleHash], checkpoint: SignedCheckpoint) {
        self.leaf = leaf
        self.index = index
        self.path = path
        self.checkpoint = checkpoint
    }

    /// The text form.
    public var text: String {
        var out = Self.header + "\n"
        if let leaf { out += "extra \(Base64.encode(leaf))\n" }
        out += "index \(index)\n"
        for hash in path { out += hash.base64 + "\n" }
        out += "\n"
        out += String(decoding: checkpoint.serialized, as: UTF8.self)
        return out
    }

    /// Parses the text form.
    public init(text: String) throws(ReceiptLogError) {
        func malformed(_ what: String) -> ReceiptLogError { ReceiptLogError(.malformedProof, "tlog-proof: \(what)") }
        guard let blank = text.range(of: "\n\n") else { throw malformed("no blank line before the checkpoint") }
        var lines = text[..<blank.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)[...]
        guard lines.popFirst() == Substring(Self.header) else { throw malformed("first line is not \(Self.header)") }
        var leaf: [UInt8]?
        if let line = lines.first, line.hasPrefix("extra ") {
            guard let bytes = Base64.decodeStrict(line.dropFirst(6)) else { throw malformed("extra is not base64") }
            leaf = bytes
            lines = lines.dropFirst()
        }
        guard let indexLine = lines.popFirst(), indexLine.hasPrefix("index "),
            let index = Decimal.parseUInt64(indexLine.dropFirst(6))
        else { throw malformed("missing 'index N' line") }
        var path: [MerkleHash] = []
        for line in lines {
            guard let hash = MerkleHash(base64: line) else { throw malformed("path line '\(line)' is not a hash") }
            path.append(hash)
        }
        let checkpoint = try SignedCheckpoint(parsing: Array(text[blank.upperBound...].utf8))
        self.init(leaf: leaf, index: index, path: path, checkpoint: checkpoint)
    }
}
