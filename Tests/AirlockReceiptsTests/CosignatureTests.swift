import Foundation
import Testing

@testable import AirlockReceipts

@Suite("C2SP tlog-cosignature (cosignature/v1)")
struct CosignatureTests {
    /// The spec's example checkpoint body (c2sp.org/tlog-cosignature, "Ed25519 signed message").
    static let specText = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    static let specTime: UInt64 = 1_679_315_147
    /// The Go sumdb/note example key (SignedNoteTests) as a cosigner: its vkey with type 0x04 and the cosignature of
    /// the spec's checkpoint at the spec's time, both computed outside this project with OpenSSL's Ed25519 over
    /// `SHA-256(name || "\n" || 0x04 || key)[:4]` and `cosignature/v1\ntime <t>\n<body>`.
    static let cosignerKey = "PeterNeumann+18b9780b+BBpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    static let cosignatureLine =
        "\u{2014} PeterNeumann GLl4CwAAAABkGFDLJeR//pqzhnEKVvEm2wWbh2RJ6oru5+cUUfm5X9NnlaGr8aSH9QE5RVZD4QGlxl2F5UpVIIi94p178KLfqPPsAA==\n"

    @Test("known answer: the witness key id uses type 0x04, and signing gives the independently computed line")
    func knownAnswer() throws {
        let cosigner = try Cosigner(CheckpointSigner(text: SignedNoteTests.goSignerKey))
        #expect(cosigner.key.text == Self.cosignerKey)
        #expect(try CosignerKey(text: Self.cosignerKey) == cosigner.key)
        // Same Ed25519 key, different type byte: the checkpoint key id is c74f20a3, the cosigner's 18b9780b.
        #expect(cosigner.key.keyIDHex != (try NoteVerifierKey(text: SignedNoteTests.goVerifierKey)).keyIDHex)

        let cosignature = try cosigner.cosign(checkpointText: Self.specText, timestamp: Self.specTime)
        #expect(cosignature.line == Self.cosignatureLine)
        #expect(cosigner.key.verify(cosignature, checkpointText: Self.specText))
    }

    @Test("known answer: a published witness vkey (type 0x04) parses with its stated key id")
    func publishedWitnessKey() throws {
        // A public witness's key, as listed in transparency-dev/formats' tests.
        let key = try CosignerKey(text: "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2")
        #expect(key.name == "remora.n621.de")
        #expect(key.keyID == 0xda77_ade7)
    }

    @Test("known answer: a published cosignature's key id and timestamp decode from its line")
    func publishedTimestamp() throws {
        let note = try SignedNote(
            parsing: Array(
                (Self.specText
                    + "\n\u{2014} w ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==\n")
                    .utf8))
        let cosignature = try Cosignature(note.signatures[0])
        #expect(cosignature.keyID == 0x6468_46b9)
        #expect(cosignature.timestamp == 1_727_964_367)
        #expect(cosignature.signature.count == 64)
    }

    @Test("a verifier rejects a changed body, a changed timestamp, and another key's line")
    func tampering() throws {
        let cosigner = try Cosigner(testSigner(7, name: "witness.test/w1"))
        let other = try Cosigner(testSigner(8, name: "witness.test/w1"))
        let good = try cosigner.cosign(checkpointText: Self.specText, timestamp: Self.specTime)
        #expect(cosigner.key.verify(good, checkpointText: Self.specText))
        #expect(
            !cosigner.key.verify(
                good, checkpointText: Self.specText.replacingOccurrences(of: "20852163", with: "20852164")))
        let shifted = Cosignature(
            name: good.name, keyID: good.keyID, timestamp: good.timestamp + 1, signature: good.signature)
        #expect(!cosigner.key.verify(shifted, checkpointText: Self.specText))
        // Same name, other key: the key id differs, so it is not this witness's line at all.
        let forged = try other.cosign(checkpointText: Self.specText, timestamp: Self.specTime)
        #expect(!cosigner.key.matches(forged.noteSignature))
        #expect(!cosigner.key.verify(forged, checkpointText: Self.specText))
    }

    @Test("a cosignature line round-trips through a signed note next to the log's own signature")
    func inNote() throws {
        let log = testSigner()
        let cosigner = try Cosigner(testSigner(7, name: "witness.test/w1"))
        let signed = try SignedCheckpoint(
            signing: Checkpoint(origin: testOrigin, size: 5, root: RFC6962.emptyRoot), with: [log])
        let cosignature = try cosigner.cosign(checkpointText: signed.note.text, timestamp: 1_700_000_000)
        let withWitness = try signed.note.adding([cosignature.noteSignature])
        let reparsed = try SignedNote(parsing: withWitness.serialized)
        #expect(reparsed.signatures.count == 2)
        // The log's key ignores the witness line (another name and key id), and the reverse.
        #expect(reparsed.check(keys: [log.verifierKey]) == .verified(by: [log.verifierKey]))
        let line = try #require(reparsed.signatures.first { cosigner.key.matches($0) })
        let parsed = try Cosignature(line)
        #expect(parsed == cosignature)
        #expect(cosigner.key.verify(parsed, checkpointText: reparsed.text))
    }

    @Test(
        "bad witness keys are refused with a reason",
        arguments: [
            ("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6", "type 1"),
            ("remora.n621.de+00000000+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2", "states key id 00000000"),
            ("remora.n621.de+da77ade7", "name+keyid+base64"),
            ("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpX", "name+keyid+base64"),
        ]
    )
    func badKeys(text: String, reason: String) {
        #expect {
            _ = try CosignerKey(text: text)
        } throws: { error in
            (error as? ReceiptLogError)?.message.contains(reason) == true
        }
    }

    @Test("a witness key is refused where a log key is expected, naming the right option")
    func witnessKeyAsLogKey() {
        #expect {
            _ = try NoteVerifierKey(text: Self.cosignerKey)
        } throws: { error in
            (error as? ReceiptLogError)?.message.contains("--witness-key") == true
        }
    }

    @Test("a signature line of the wrong length is not a cosignature")
    func wrongLength() throws {
        let note = try SignedCheckpoint(
            signing: Checkpoint(origin: testOrigin, size: 1, root: RFC6962.emptyRoot), with: [testSigner()])
        #expect(throws: ReceiptLogError.self) { _ = try Cosignature(note.note.signatures[0]) }
    }
}
