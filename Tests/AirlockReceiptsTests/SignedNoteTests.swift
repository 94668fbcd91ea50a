import Foundation
import Testing

@testable import AirlockReceipts

@Suite("C2SP signed notes and checkpoints")
struct SignedNoteTests {
    // The known-answer example of golang.org/x/mod/sumdb/note (also in the C2SP ecosystem's test suites).
    static let goVerifierKey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    static let goSignerKey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    static let goText = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    static let goNote =
        goText + "\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

    @Test("the Go sumdb/note known answer: key id, key formats, signature")
    func goKnownAnswer() throws {
        let verifier = try NoteVerifierKey(text: Self.goVerifierKey)
        #expect(verifier.keyIDHex == "c74f20a3")
        let signer = try CheckpointSigner(text: Self.goSignerKey)
        #expect(signer.verifierKey == verifier)
        #expect(signer.privateKeyText == Self.goSignerKey)

        let note = try SignedNote(parsing: Array(Self.goNote.utf8))
        #expect(note.text == Self.goText)
        #expect(note.check(keys: [verifier]) == .verified(by: [verifier]))
        #expect(note.serialized == Array(Self.goNote.utf8))

        // Ed25519 is deterministic (RFC 8032), so signing again gives the published bytes.
        let signed = try SignedNote.sign(text: Self.goText, signers: [signer])
        #expect(signed.serialized == Array(Self.goNote.utf8))

        let altered = try SignedNote(parsing: Array(Self.goNote.replacingOccurrences(of: "cryptography", with: "cryptographY").utf8))
        #expect(altered.check(keys: [verifier]) == .invalidSignature(name: "PeterNeumann", keyID: 0xc74f_20a3))
    }

    @Test("an unknown key's signature next to a known one is ignored; only unknown keys fail")
    func unknownKeys() throws {
        let known = testSigner(1)
        let unknown = testSigner(2, name: "someone.else/key")
        let checkpoint = Checkpoint(origin: testOrigin, size: 3, root: RFC6962.emptyRoot)
        let both = try SignedCheckpoint(signing: checkpoint, with: [unknown, known])
        #expect(both.note.check(keys: [known.verifierKey]) == .verified(by: [known.verifierKey]))
        let onlyUnknown = try SignedCheckpoint(signing: checkpoint, with: [unknown])
        guard case .noKnownSignature = onlyUnknown.note.check(keys: [known.verifierKey]) else {
            Issue.record("a note signed only by an unknown key was accepted")
            return
        }
    }

    @Test("same name, different key: ignored as unknown (C2SP: name and id identify a key)")
    func sameNameOtherKey() throws {
        let known = testSigner(1)
        let impostor = testSigner(3)
        #expect(known.name == impostor.name)
        let note = try SignedNote.sign(text: "hello\n", signers: [impostor])
        guard case .noKnownSignature = note.check(keys: [known.verifierKey]) else {
            Issue.record("accepted a signature by another key with the same name")
            return
        }
    }

    static func validNote() throws -> String {
        let signed = try SignedCheckpoint(
            signing: Checkpoint(origin: testOrigin, size: 7, root: RFC6962.emptyRoot),
            with: [testSigner()]
        )
        return String(decoding: signed.serialized, as: UTF8.self)
    }

    @Test("malformed notes are rejected", arguments: NoteMutation.allCases)
    func malformed(mutation: NoteMutation) throws {
        let note = try Self.validNote()
        let bad = mutation.apply(note)
        #expect(bad != note, "the mutation did not change the note")
        #expect(throws: ReceiptLogError.self, "accepted a note with \(mutation)") {
            try SignedCheckpoint(parsing: Array(bad.utf8))
        }
    }

    @Test("a wrong key id makes the signature unknown")
    func wrongKeyID() throws {
        let note = try SignedNote(parsing: Array(try Self.validNote().utf8))
        let signer = testSigner()
        var line = note.serialized
        let text = String(decoding: line, as: UTF8.self)
        let signatureLine = text[text.range(of: "\u{2014} ")!.lowerBound...]
        var raw = Base64.decodeStrict(signatureLine.split(separator: " ")[2].dropLast())!
        raw[0] ^= 0xFF
        line = Array(text.replacingOccurrences(of: String(signatureLine), with: "\u{2014} \(signer.name) \(Base64.encode(raw))\n").utf8)
        let parsed = try SignedNote(parsing: line)
        guard case .noKnownSignature = parsed.check(keys: [signer.verifierKey]) else {
            Issue.record("a signature with a wrong key id was accepted")
            return
        }
    }

    @Test("verifier keys with a wrong id, type or length are refused")
    func badVerifierKeys() throws {
        let good = testSigner().verifierKey.text
        #expect(try NoteVerifierKey(text: good) == testSigner().verifierKey)
        let wrongID = good.replacingOccurrences(of: "+\(testSigner().verifierKey.keyIDHex)+", with: "+00000000+")
        for bad in [wrongID, "name+1234", "na me+00000000+AQ==", String(good.dropLast(4))] {
            #expect(throws: ReceiptLogError.self, "accepted \(bad)") { try NoteVerifierKey(text: bad) }
        }
    }

    @Test("a tlog-proof round-trips through its text form")
    func tlogProofText() throws {
        let checkpoint = try SignedCheckpoint(
            signing: Checkpoint(origin: testOrigin, size: 8, root: Vectors.roots[8]),
            with: [testSigner()]
        )
        let proof = TLogProof(leaf: [1, 2, 3], index: 5, path: Vectors.inclusions[2].proof, checkpoint: checkpoint)
        #expect(try TLogProof(text: proof.text) == proof)
    }
}

/// Ways to break a valid checkpoint note.
enum NoteMutation: CaseIterable, Sendable {
    case controlCharacter, carriageReturn, missingBlankLine, noFinalNewline, hyphenInsteadOfEmDash
    case signatureNotBase64, noSignature, sizeWithLeadingZero, rootNotBase64

    func apply(_ note: String) -> String {
        switch self {
        case .controlCharacter: note.replacingOccurrences(of: "\n7\n", with: "\n7\u{07}\n")
        case .carriageReturn: note.replacingOccurrences(of: "\n7\n", with: "\n7\r\n")
        case .missingBlankLine: note.replacingOccurrences(of: "\n\n", with: "\n")
        case .noFinalNewline: String(note.dropLast())
        case .hyphenInsteadOfEmDash: note.replacingOccurrences(of: "\u{2014} ", with: "- ")
        case .signatureNotBase64: note.replacingOccurrences(of: "=\n", with: "!\n")
        case .noSignature: String(note[..<note.range(of: "\n\n")!.upperBound])
        case .sizeWithLeadingZero: note.replacingOccurrences(of: "\n7\n", with: "\n07\n")
        case .rootNotBase64: note.replacingOccurrences(of: RFC6962.emptyRoot.base64, with: "not-a-root")
        }
    }
}
