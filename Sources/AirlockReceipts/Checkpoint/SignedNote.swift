import Foundation

/// A C2SP signed note (https://c2sp.org/signed-note): UTF-8 text ending in a newline, a blank line, and one or
/// more lines `— <key name> <base64(4-byte key id || signature)>`.
public struct SignedNote: Sendable, Hashable {
    /// One signature line.
    public struct Signature: Sendable, Hashable {
        /// The key name on the line.
        public let name: String
        /// The big-endian key id from the first four decoded bytes.
        public let keyID: UInt32
        /// The signature bytes after the key id.
        public let signature: [UInt8]

        /// The note line, `— <name> <base64(key id || signature)>` and a newline.
        public var line: String {
            let id = keyID
            let bytes = [UInt8(id >> 24), UInt8(id >> 16 & 0xff), UInt8(id >> 8 & 0xff), UInt8(id & 0xff)] + signature
            return SignedNote.dash + name + " " + Base64.encode(bytes) + "\n"
        }
    }

    /// The outcome of checking a note's signatures against a set of known keys.
    public enum SignatureCheck: Sendable, Hashable {
        /// At least one known key signed, and no known key's signature failed.
        case verified(by: [NoteVerifierKey])
        /// A signature whose name and key id match a known key does not verify.
        case invalidSignature(name: String, keyID: UInt32)
        /// No signature matches a known key (name and key id).
        case noKnownSignature(found: [String])
    }

    /// The most signature lines accepted; the spec asks for at least 16.
    public static let maxSignatures = 100
    /// The largest note accepted, in bytes.
    public static let maxBytes = 1 << 20

    static let dash = "\u{2014} "

    /// The signed text, including its final newline.
    public let text: String
    /// The signatures, in order.
    public let signatures: [Signature]

    /// Signs `text` (which must end in a newline and be a valid note text) with each signer.
    public static func sign(text: String, signers: [CheckpointSigner]) throws(ReceiptLogError) -> SignedNote {
        try validateText(text)
        var signatures: [Signature] = []
        for signer in signers {
            let signature = try signer.sign(Array(text.utf8))
            signatures.append(Signature(name: signer.name, keyID: signer.verifierKey.keyID, signature: signature))
        }
        return SignedNote(text: text, signatures: signatures)
    }

    /// The note as bytes.
    public var serialized: [UInt8] {
        var out = text + "\n"
        for signature in signatures { out += signature.line }
        return Array(out.utf8)
    }

    /// The same note with `more` signatures after its own (a witness's cosignatures); a line already present is not
    /// added twice.
    public func adding(_ more: [Signature]) throws(ReceiptLogError) -> SignedNote {
        var all = signatures
        for signature in more where !all.contains(signature) { all.append(signature) }
        guard all.count <= Self.maxSignatures else { throw Self.malformed("more than 100 signatures") }
        return SignedNote(text: text, signatures: all)
    }

    /// Parses a note. Checks the syntax only; use ``check(keys:)`` for the signatures.
    public init(parsing bytes: [UInt8]) throws(ReceiptLogError) {
        guard bytes.count <= Self.maxBytes else { throw Self.malformed("the note is larger than 1 MiB") }
        guard let string = String(validating: bytes, as: UTF8.self) else { throw Self.malformed("not valid UTF-8") }
        if let bad = string.unicodeScalars.first(where: { $0.value < 0x20 && $0 != "\n" }) {
            throw Self.malformed("contains the control character U+\(Hex.encode([UInt8(0), UInt8(bad.value)]).uppercased())")
        }
        guard string.hasSuffix("\n") else { throw Self.malformed("does not end in a newline") }
        // The text is separated from the signatures by the last blank line.
        guard let split = string.range(of: "\n\n", options: .backwards) else {
            throw Self.malformed("no blank line between the text and the signatures")
        }
        let text = String(string[..<split.lowerBound]) + "\n"
        let signatureBlock = string[split.upperBound...]
        var signatures: [Signature] = []
        for line in signatureBlock.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            guard line.hasPrefix(Self.dash) else {
                throw Self.malformed("signature line '\(line)' does not start with an em dash and a space")
            }
            let fields = line.dropFirst(Self.dash.count).split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 2, !fields[0].isEmpty else {
                throw Self.malformed("signature line '\(line)' is not '— <name> <base64>'")
            }
            guard let decoded = Base64.decodeStrict(fields[1]), decoded.count >= 5 else {
                throw Self.malformed("signature by '\(fields[0])' is not base64 of a key id and a signature")
            }
            let id = decoded[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            signatures.append(Signature(name: String(fields[0]), keyID: id, signature: Array(decoded[4...])))
        }
        guard !signatures.isEmpty else { throw Self.malformed("no signature lines") }
        guard signatures.count <= Self.maxSignatures else { throw Self.malformed("more than 100 signatures") }
        self.text = text
        self.signatures = signatures
    }

    private init(text: String, signatures: [Signature]) {
        self.text = text
        self.signatures = signatures
    }

    /// Checks the signatures: unknown keys (by name and key id) are ignored, a failing known signature rejects the
    /// note, and at least one known signature must verify (c2sp.org/signed-note, "Signatures").
    public func check(keys: [NoteVerifierKey]) -> SignatureCheck {
        let message = Array(text.utf8)
        var verified: [NoteVerifierKey] = []
        for signature in signatures {
            guard let key = keys.first(where: { $0.name == signature.name && $0.keyID == signature.keyID }) else {
                continue
            }
            guard key.isValidSignature(signature.signature, for: message) else {
                return .invalidSignature(name: signature.name, keyID: signature.keyID)
            }
            if !verified.contains(key) { verified.append(key) }
        }
        if verified.isEmpty {
            return .noKnownSignature(found: signatures.map { "\($0.name)+\(NoteVerifierKey.hex($0.keyID))" })
        }
        return .verified(by: verified)
    }

    static func validateText(_ text: String) throws(ReceiptLogError) {
        guard text.hasSuffix("\n"), !text.contains("\n\n"), !text.hasPrefix("\n") else {
            throw malformed("note text must end in a newline and contain no blank line")
        }
        if text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" }) {
            throw malformed("note text contains a control character")
        }
    }

    private static func malformed(_ what: String) -> ReceiptLogError {
        ReceiptLogError(.malformedNote, "signed note: \(what)")
    }
}
