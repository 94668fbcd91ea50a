/// A stored record as read back: its index, exact leaf bytes and hash, and its parsed fields.
public struct ReceiptEntry: Sendable, Hashable {
    /// The position in the log.
    public let index: UInt64
    /// The exact stored leaf bytes: one line of canonical JSON, without a newline.
    public let leaf: [UInt8]
    /// `SHA-256(0x00 || leaf)`.
    public let leafHash: MerkleHash
    /// The record's members in canonical order (empty if the leaf is not canonical JSON).
    public let fields: [(String, ReceiptValue)]

    init(index: UInt64, leaf: [UInt8], leafHash: MerkleHash) {
        self.index = index
        self.leaf = leaf
        self.leafHash = leafHash
        self.fields = (try? CanonicalRecordReader.parse(leaf)) ?? []
    }

    /// The value of a field.
    public subscript(_ name: String) -> ReceiptValue? {
        fields.first { $0.0 == name }?.1
    }

    /// The record kind.
    public var kind: String? { self["kind"]?.stringValue }

    /// The leaf as a string (it is valid UTF-8 JSON).
    public var json: String { String(decoding: leaf, as: UTF8.self) }

    public static func == (lhs: ReceiptEntry, rhs: ReceiptEntry) -> Bool {
        lhs.index == rhs.index && lhs.leaf == rhs.leaf
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(index)
        hasher.combine(leaf)
    }
}
