import Crypto

/// A witness's public key for Ed25519 cosignatures (https://c2sp.org/tlog-cosignature, cosignature/v1), in the
/// verifier-key text form `<name>+<8 hex digits key id>+<base64(0x04 || 32-byte Ed25519 public key)>`.
///
/// The type byte 0x04 enters the key id, so a witness's key never matches a log's checkpoint key (type 0x01) even
/// when both are the same Ed25519 key: a cosignature cannot pass for a checkpoint signature, nor the reverse.
public struct CosignerKey: Sendable, Hashable, CustomStringConvertible {
    /// The cosignature/v1 signature type of c2sp.org/tlog-cosignature.
    static let cosignatureV1Type: UInt8 = 0x04

    /// The witness name, which appears in its cosignature lines.
    public let name: String
    /// The first four bytes of `SHA-256(name || 0x0A || 0x04 || public key)`, big-endian.
    public let keyID: UInt32
    /// The 32-byte Ed25519 public key.
    public let publicKey: [UInt8]

    /// Creates a key from its parts, computing the key id.
    public init(name: String, publicKey: [UInt8]) throws(ReceiptLogError) {
        try NoteVerifierKey.validateName(name)
        guard publicKey.count == 32 else {
            throw ReceiptLogError(.invalidKey, "an Ed25519 public key is 32 bytes, got \(publicKey.count)")
        }
        self.name = name
        self.publicKey = publicKey
        self.keyID = NoteVerifierKey.keyID(name: name, type: Self.cosignatureV1Type, keyBytes: publicKey)
    }

    /// Parses the text form. The key id in the text must match the one computed from the name and key.
    public init(text: String) throws(ReceiptLogError) {
        let parts = try NoteVerifierKey.parseText(text, expecting: "a witness key", keygen: "airlock witness keygen")
        guard parts.type == Self.cosignatureV1Type else {
            throw ReceiptLogError(
                .invalidKey,
                "witness key '\(parts.name)' has type \(parts.type), not 4 (an Ed25519 cosignature/v1 key); a log's checkpoint key (type 1) goes in --key"
            )
        }
        try self.init(name: parts.name, publicKey: parts.key)
        try NoteVerifierKey.checkStatedID(parts.statedID, name: name, keyID: keyID)
    }

    /// The text form.
    public var text: String {
        "\(name)+\(keyIDHex)+\(Base64.encode([Self.cosignatureV1Type] + publicKey))"
    }

    public var description: String { text }

    /// Key id as 8 lowercase hex digits.
    public var keyIDHex: String { NoteVerifierKey.hex(keyID) }

    /// Whether a note signature line is this witness's (name and key id); other lines are ignored by verifiers.
    public func matches(_ signature: SignedNote.Signature) -> Bool {
        signature.name == name && signature.keyID == keyID
    }

    /// Checks this witness's cosignature over a checkpoint note text. The line must be this key's (``matches(_:)``).
    public func verify(_ cosignature: Cosignature, checkpointText: String) -> Bool {
        guard cosignature.name == name, cosignature.keyID == keyID,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey)
        else { return false }
        return key.isValidSignature(
            cosignature.signature,
            for: Cosignature.signedMessage(checkpointText: checkpointText, timestamp: cosignature.timestamp)
        )
    }
}
