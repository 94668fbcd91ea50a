/// The body of a C2SP checkpoint (https://c2sp.org/tlog-checkpoint): origin, tree size, base64 root hash.
public struct Checkpoint: Sendable, Hashable {
    /// The log's origin line.
    public let origin: String
    /// The number of records the checkpoint commits to.
    public let size: UInt64
    /// The RFC 6962 root of the first `size` records.
    public let root: MerkleHash

    /// Creates a checkpoint body.
    public init(origin: String, size: UInt64, root: MerkleHash) {
        self.origin = origin
        self.size = size
        self.root = root
    }

    /// The note text: `<origin>\n<size>\n<base64 root>\n`.
    public var text: String { "\(origin)\n\(size)\n\(root.base64)\n" }

    /// Parses a note text. Extension lines after the root are allowed by the spec and ignored here.
    public init(text: String) throws(ReceiptLogError) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard text.hasSuffix("\n"), lines.count >= 4, lines.dropLast().allSatisfy({ !$0.isEmpty }) else {
            throw ReceiptLogError(.malformedNote, "checkpoint: expected origin, size and root lines")
        }
        guard let size = Decimal.parseUInt64(lines[1]) else {
            throw ReceiptLogError(.malformedNote, "checkpoint: size line '\(lines[1])' is not a decimal number")
        }
        guard let root = MerkleHash(base64: lines[2]) else {
            throw ReceiptLogError(.malformedNote, "checkpoint: root line is not base64 of 32 bytes")
        }
        self.init(origin: String(lines[0]), size: size, root: root)
    }
}

/// A checkpoint together with its signed note.
public struct SignedCheckpoint: Sendable, Hashable {
    /// The parsed body.
    public let checkpoint: Checkpoint
    /// The note it was parsed from.
    public let note: SignedNote

    /// Parses a signed checkpoint note (syntax only).
    public init(parsing bytes: [UInt8]) throws(ReceiptLogError) {
        let note = try SignedNote(parsing: bytes)
        self.checkpoint = try Checkpoint(text: note.text)
        self.note = note
    }

    /// Signs a checkpoint with every signer.
    public init(signing checkpoint: Checkpoint, with signers: [CheckpointSigner]) throws(ReceiptLogError) {
        self.checkpoint = checkpoint
        self.note = try SignedNote.sign(text: checkpoint.text, signers: signers)
    }

    /// The note bytes.
    public var serialized: [UInt8] { note.serialized }
}
