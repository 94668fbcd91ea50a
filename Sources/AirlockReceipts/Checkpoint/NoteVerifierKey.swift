import Crypto

/// A public key that verifies signed notes, in the C2SP / Go `sumdb/note` verifier-key text form
/// `<name>+<8 hex digits key id>+<base64(0x01 || 32-byte Ed25519 public key)>`.
public struct NoteVerifierKey: Sendable, Hashable, CustomStringConvertible {
    /// The Ed25519 signature type byte of c2sp.org/signed-note.
    static let ed25519Type: UInt8 = 0x01

    /// The key name, which appears in signature lines.
    public let name: String
    /// The key id: the first four bytes of `SHA-256(name || 0x0A || 0x01 || public key)`, big-endian.
    public let keyID: UInt32
    /// The 32-byte Ed25519 public key.
    public let publicKey: [UInt8]

    /// Creates a key from its parts, computing the key id.
    public init(name: String, publicKey: [UInt8]) throws(ReceiptLogError) {
        try Self.validateName(name)
        guard publicKey.count == 32 else {
            throw ReceiptLogError(.invalidKey, "an Ed25519 public key is 32 bytes, got \(publicKey.count)")
        }
        self.name = name
        self.publicKey = publicKey
        self.keyID = Self.keyID(name: name, type: Self.ed25519Type, keyBytes: publicKey)
    }

    /// Parses the text form. The key id in the text must match the one computed from the name and key.
    public init(text: String) throws(ReceiptLogError) {
        let parts = try Self.parseText(text, expecting: "a verifier key", keygen: "airlock receipts keygen")
        guard parts.type == Self.ed25519Type else {
            throw ReceiptLogError(
                .invalidKey,
                parts.type == CosignerKey.cosignatureV1Type
                    ? "'\(parts.name)' is a witness key (type 4), not a log's checkpoint verifier key (type 1): witness keys go in --witness-key; a log's key is the .pub of 'airlock receipts keygen'"
                    : "verifier key '\(parts.name)' is not an Ed25519 note key (type \(parts.type), expected 1)"
            )
        }
        try self.init(name: parts.name, publicKey: parts.key)
        try Self.checkStatedID(parts.statedID, name: name, keyID: keyID)
    }

    /// The parts of a c2sp.org/signed-note verifier key `<name>+<8 hex digits key id>+<base64(type || key)>`.
    static func parseText(
        _ text: String,
        expecting what: String,
        keygen: String
    ) throws(ReceiptLogError) -> (name: String, statedID: UInt32, type: UInt8, key: [UInt8]) {
        let trimmed = text.trimmingTrailingNewlines()
        let parts = trimmed.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1].utf8.count == 8, let idBytes = Hex.decode(parts[1]),
            let material = Base64.decodeStrict(parts[2]), material.count == 33
        else {
            throw ReceiptLogError(
                .invalidKey,
                "'\(trimmed)' is not \(what) of the form name+keyid+base64 (run '\(keygen)')"
            )
        }
        let stated = idBytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return (String(parts[0]), stated, material[0], Array(material[1...]))
    }

    static func checkStatedID(_ stated: UInt32, name: String, keyID: UInt32) throws(ReceiptLogError) {
        guard stated == keyID else {
            throw ReceiptLogError(
                .invalidKey,
                "verifier key '\(name)' states key id \(hex(stated)) but its key has id \(hex(keyID))"
            )
        }
    }

    /// The text form.
    public var text: String {
        "\(name)+\(Self.hex(keyID))+\(Base64.encode([Self.ed25519Type] + publicKey))"
    }

    public var description: String { text }

    /// Key id as 8 lowercase hex digits.
    public var keyIDHex: String { Self.hex(keyID) }

    /// Checks an Ed25519 signature over `message`.
    func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard signature.count == 64,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey)
        else { return false }
        return key.isValidSignature(signature, for: message)
    }

    static func keyID(name: String, type: UInt8, keyBytes: [UInt8]) -> UInt32 {
        var input = Array(name.utf8)
        input.append(0x0A)
        input.append(type)
        input.append(contentsOf: keyBytes)
        let digest = Array(SHA256.hash(data: input))
        return digest[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    static func hex(_ id: UInt32) -> String {
        Hex.encode([UInt8(id >> 24), UInt8(id >> 16 & 0xff), UInt8(id >> 8 & 0xff), UInt8(id & 0xff)])
    }

    /// c2sp.org/signed-note: names are non-empty and contain no Unicode spaces and no '+'. Control characters are
    /// refused too, since they may not appear in a note.
    static func validateName(_ name: String) throws(ReceiptLogError) {
        let bad = name.unicodeScalars.contains {
            $0 == "+" || $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7f
        }
        guard !name.isEmpty, !bad else {
            throw ReceiptLogError(
                .invalidKey,
                "key name '\(name)' is invalid: it must be non-empty, without spaces, '+' or control characters"
            )
        }
    }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var result = Substring(self)
        while let last = result.last, last == "\n" || last == "\r" || last == " " { result.removeLast() }
        return String(result)
    }
}
