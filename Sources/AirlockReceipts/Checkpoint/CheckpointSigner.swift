import Crypto

/// An Ed25519 key that signs checkpoints.
///
/// Its private text form is the Go `sumdb/note` signer-key form
/// `PRIVATE+KEY+<name>+<8 hex digits key id>+<base64(0x01 || 32-byte seed)>`; keep it in a file with mode 0600.
public struct CheckpointSigner: Sendable {
    /// The matching verifier key, to give to auditors.
    public let verifierKey: NoteVerifierKey
    private let privateKey: Curve25519.Signing.PrivateKey

    /// The key name.
    public var name: String { verifierKey.name }

    /// Generates a fresh key pair.
    public static func generate(name: String) throws(ReceiptLogError) -> CheckpointSigner {
        try CheckpointSigner(name: name, privateKey: Curve25519.Signing.PrivateKey())
    }

    /// A signer from a fixed 32-byte seed (deterministic examples and tests).
    init(name: String, seed: [UInt8]) throws(ReceiptLogError) {
        guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed) else {
            throw ReceiptLogError(.invalidKey, "an Ed25519 seed is 32 bytes")
        }
        try self.init(name: name, privateKey: key)
    }

    private init(name: String, privateKey: Curve25519.Signing.PrivateKey) throws(ReceiptLogError) {
        self.privateKey = privateKey
        self.verifierKey = try NoteVerifierKey(name: name, publicKey: Array(privateKey.publicKey.rawRepresentation))
    }

    /// Parses the private text form.
    public init(text: String) throws(ReceiptLogError) {
        let trimmed = text.trimmingTrailingNewlines()
        let prefix = "PRIVATE+KEY+"
        guard trimmed.hasPrefix(prefix) else {
            throw ReceiptLogError(.invalidKey, "a signing key starts with '\(prefix)' (run 'airlock receipts keygen')")
        }
        let parts = trimmed.dropFirst(prefix.count).split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1].utf8.count == 8, let idBytes = Hex.decode(parts[1]),
            let material = Base64.decodeStrict(parts[2]), material.count == 33,
            material[0] == NoteVerifierKey.ed25519Type,
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: material[1...])
        else {
            throw ReceiptLogError(.invalidKey, "the signing key is not of the form PRIVATE+KEY+name+keyid+base64")
        }
        try self.init(name: String(parts[0]), privateKey: key)
        let stated = idBytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard stated == verifierKey.keyID else {
            throw ReceiptLogError(.invalidKey, "the signing key for '\(name)' states the wrong key id")
        }
    }

    /// Loads the private text form from a file, refusing a file that other users can access or its group can
    /// write. Group read is allowed, for a group only the router is in (a systemd `root:airlock 0640` key, a
    /// Kubernetes Secret mounted with the pod's fsGroup).
    public init(contentsOfFile path: String) throws(ReceiptLogError) {
        guard let bytes = try FileSystem.readFile(path) else {
            throw ReceiptLogError(.invalidKey, "signing key file not found", path: path)
        }
        if let mode = FileSystem.mode(of: path), mode & 0o027 != 0 {
            throw ReceiptLogError(
                .invalidKey,
                "the signing key is accessible to other users or writable by its group (mode \(String(mode, radix: 8))); run chmod 600 on it (or 640 with a group only the router is in)",
                path: path
            )
        }
        try self.init(text: String(decoding: bytes, as: UTF8.self))
    }

    /// The private text form.
    public var privateKeyText: String {
        let seed = [NoteVerifierKey.ed25519Type] + Array(privateKey.rawRepresentation)
        return "PRIVATE+KEY+\(name)+\(verifierKey.keyIDHex)+\(Base64.encode(seed))"
    }

    /// Writes the private key (mode 0600) and the verifier key (mode 0644) to `<prefix>.key` and `<prefix>.pub`.
    public func write(toPrefix prefix: String) throws(ReceiptLogError) {
        guard try FileSystem.createExclusive(Array((privateKeyText + "\n").utf8), at: prefix + ".key", mode: 0o600)
        else {
            throw ReceiptLogError(.invalidKey, "refusing to overwrite an existing key", path: prefix + ".key")
        }
        try FileSystem.writeAtomically(Array((verifierKey.text + "\n").utf8), to: prefix + ".pub")
    }

    func sign(_ message: [UInt8]) throws(ReceiptLogError) -> [UInt8] {
        do {
            return Array(try privateKey.signature(for: message))
        } catch {
            throw ReceiptLogError(.invalidKey, "signing with key '\(name)' failed: \(error)")
        }
    }
}
