/// A cosignature/v1 (https://c2sp.org/tlog-cosignature): a witness's statement that, at `timestamp`, the checkpoint
/// is the largest consistent tree it has seen for the log. On the wire it is a note signature line whose bytes are
/// the 4-byte key id, the 8-byte big-endian timestamp and the 64-byte Ed25519 signature.
public struct Cosignature: Sendable, Hashable {
    /// The witness name on the line.
    public let name: String
    /// The key id on the line.
    public let keyID: UInt32
    /// When the witness cosigned, in seconds since the Unix epoch.
    public let timestamp: UInt64
    /// The Ed25519 signature over ``signedMessage(checkpointText:timestamp:)``.
    public let signature: [UInt8]

    /// The spec's upper bound for a timestamp, 2^63 - 1.
    static let maxTimestamp = UInt64(Int64.max)

    init(name: String, keyID: UInt32, timestamp: UInt64, signature: [UInt8]) {
        self.name = name
        self.keyID = keyID
        self.timestamp = timestamp
        self.signature = signature
    }

    /// Reads a note signature line as a cosignature: its bytes after the key id are a timestamp and 64 bytes.
    public init(_ line: SignedNote.Signature) throws(ReceiptLogError) {
        guard line.signature.count == 8 + 64 else {
            throw ReceiptLogError(
                .malformedNote,
                "the signature by '\(line.name)' is \(line.signature.count) bytes after its key id, not the 72 of a cosignature/v1 (timestamp and Ed25519 signature)"
            )
        }
        let timestamp = line.signature[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard timestamp <= Self.maxTimestamp else {
            throw ReceiptLogError(.malformedNote, "the cosignature by '\(line.name)' has a timestamp above 2^63 - 1")
        }
        self.init(name: line.name, keyID: line.keyID, timestamp: timestamp, signature: Array(line.signature[8...]))
    }

    /// The note signature line this cosignature is.
    public var noteSignature: SignedNote.Signature {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(72)
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(timestamp >> UInt64(shift) & 0xff)) }
        bytes.append(contentsOf: signature)
        return SignedNote.Signature(name: name, keyID: keyID, signature: bytes)
    }

    /// The line as sent by a witness: `— <name> <base64>` and a newline.
    public var line: String { noteSignature.line }

    /// The signed message: `cosignature/v1\ntime <timestamp>\n` followed by the whole checkpoint note text.
    public static func signedMessage(checkpointText: String, timestamp: UInt64) -> [UInt8] {
        Array("cosignature/v1\ntime \(timestamp)\n\(checkpointText)".utf8)
    }
}

/// A witness's signing key: an Ed25519 key in the same private text form and file rules as a checkpoint key
/// (``CheckpointSigner``), used for cosignature/v1 under its ``CosignerKey``.
public struct Cosigner: Sendable {
    /// The public key to give to verifiers (`--witness-key`).
    public let key: CosignerKey
    private let signer: CheckpointSigner

    /// A cosigner over a parsed signing key; its name is the witness name.
    public init(_ signer: CheckpointSigner) throws(ReceiptLogError) {
        self.signer = signer
        self.key = try CosignerKey(name: signer.name, publicKey: signer.verifierKey.publicKey)
    }

    /// Loads the signing key file with the checkpoint key's rules (no access for other users).
    public init(contentsOfFile path: String) throws(ReceiptLogError) {
        try self.init(CheckpointSigner(contentsOfFile: path))
    }

    /// Generates a fresh key.
    public static func generate(name: String) throws(ReceiptLogError) -> Cosigner {
        try Cosigner(CheckpointSigner.generate(name: name))
    }

    /// Writes the private key (mode 0600) to `<prefix>.key` and the witness key (mode 0644) to `<prefix>.pub`.
    public func write(toPrefix prefix: String) throws(ReceiptLogError) {
        guard
            try FileSystem.createExclusive(
                Array((signer.privateKeyText + "\n").utf8), at: prefix + ".key", mode: 0o600
            )
        else {
            throw ReceiptLogError(.invalidKey, "refusing to overwrite an existing key", path: prefix + ".key")
        }
        try FileSystem.writeAtomically(Array((key.text + "\n").utf8), to: prefix + ".pub")
    }

    /// Cosigns a checkpoint note text at `timestamp` (seconds since the Unix epoch).
    public func cosign(checkpointText: String, timestamp: UInt64) throws(ReceiptLogError) -> Cosignature {
        guard timestamp <= Cosignature.maxTimestamp else {
            throw ReceiptLogError(.invalidRecord, "a cosignature timestamp must not exceed 2^63 - 1")
        }
        try SignedNote.validateText(checkpointText)
        let signature = try signer.sign(Cosignature.signedMessage(checkpointText: checkpointText, timestamp: timestamp))
        return Cosignature(name: key.name, keyID: key.keyID, timestamp: timestamp, signature: signature)
    }
}
