import Foundation
import Synchronization
import Testing

@testable import AirlockReceipts

@Suite("Witness state file")
struct WitnessStoreTests {
    static let rootA = RFC6962.leafHash(Array("a".utf8))
    static let rootB = RFC6962.leafHash(Array("b".utf8))

    @Test("replace is a compare-and-swap, stored durably and read back by a new store")
    func compareAndSwap() throws {
        let directory = makeTemporaryDirectory("witness")
        do {
            let store = try FileWitnessStore(directory: directory)
            #expect(try store.latest(origin: "log.test/a") == nil)
            let first = WitnessedTree(size: 3, root: Self.rootA)
            #expect(try store.replace(origin: "log.test/a", expected: nil, with: first) == .replaced)
            // A submission checked against the old state loses: the stored tree is returned, nothing changes.
            let stale = try store.replace(
                origin: "log.test/a", expected: nil, with: WitnessedTree(size: 9, root: Self.rootB))
            #expect(stale == .conflict(current: first))
            #expect(
                try store.replace(origin: "log.test/b c", expected: nil, with: WitnessedTree(size: 1, root: Self.rootB))
                    == .replaced)
        }
        let reopened = try FileWitnessStore(directory: directory)
        #expect(try reopened.latest(origin: "log.test/a") == WitnessedTree(size: 3, root: Self.rootA))
        #expect(try reopened.latest(origin: "log.test/b c") == WitnessedTree(size: 1, root: Self.rootB))
        #expect(FileSystem.mode(of: directory + "/" + FileWitnessStore.fileName) == 0o600)
    }

    /// The file store, with one hook run just before the first `replace` reaches it: another submission lands
    /// between a request's check and its write (the race c2sp.org/tlog-witness describes).
    final class Interleaved: WitnessStore {
        let inner: FileWitnessStore
        let between: Mutex<(@Sendable () -> Void)?>

        init(_ inner: FileWitnessStore, between: @escaping @Sendable () -> Void) {
            self.inner = inner
            self.between = Mutex(between)
        }

        func latest(origin: String) throws(ReceiptLogError) -> WitnessedTree? {
            try inner.latest(origin: origin)
        }

        func replace(origin: String, expected: WitnessedTree?, with new: WitnessedTree) throws(ReceiptLogError)
            -> WitnessStoreUpdate
        {
            let hook = between.withLock { hook in
                defer { hook = nil }
                return hook
            }
            hook?()
            return try inner.replace(origin: origin, expected: expected, with: new)
        }
    }

    @Test("a larger checkpoint cosigned between a smaller one's check and its write is not rolled back: 409")
    func raceBetweenCheckAndWrite() throws {
        let signer = testSigner()
        var tree = MerkleTree()
        for n in 0..<20 { tree.append(leafHash: RFC6962.leafHash(Array("r\(n)".utf8))) }
        func body(old: UInt64, size: UInt64) throws -> [UInt8] {
            let proof = old == 0 ? [] : try tree.consistencyProof(oldSize: old, newSize: size)
            let note = try SignedCheckpoint(
                signing: Checkpoint(origin: testOrigin, size: size, root: tree.rootHash(size: size)), with: [signer])
            return Array(("old \(old)\n" + proof.map { $0.base64 + "\n" }.joined() + "\n").utf8) + note.serialized
        }
        let directory = makeTemporaryDirectory("witness")
        let file = try FileWitnessStore(directory: directory)
        let log = WitnessedLog(origin: testOrigin, keys: [signer.verifierKey])
        let cosigner = try Cosigner(testSigner(9, name: "witness.test/w1"))
        let first = Witness(cosigner: cosigner, logs: [log], store: file).addCheckpoint(try body(old: 0, size: 10))
        #expect(first.status == 200)

        let larger = try body(old: 10, size: 20)
        let laterAnswer = Mutex<WitnessAnswer?>(nil)
        let store = Interleaved(file) {
            let answer = Witness(cosigner: cosigner, logs: [log], store: file).addCheckpoint(larger)
            laterAnswer.withLock { $0 = answer }
        }
        let smaller = Witness(cosigner: cosigner, logs: [log], store: store).addCheckpoint(try body(old: 10, size: 15))
        #expect(laterAnswer.withLock { $0?.status } == 200)
        #expect(smaller.status == 409)
        #expect(smaller.body == "20\n")
        #expect(try file.latest(origin: testOrigin)?.size == 20)
    }

    @Test("a second store on the same directory is refused while the first is open")
    func locked() throws {
        let directory = makeTemporaryDirectory("witness")
        let store = try FileWitnessStore(directory: directory)
        #expect {
            _ = try FileWitnessStore(directory: directory)
        } throws: { error in
            (error as? ReceiptLogError)?.message.contains("another process has this witness state directory open")
                == true
        }
        _ = store
    }

    @Test(
        "a damaged state file is an integrity alarm, never an empty state",
        arguments: [
            "3 notbase64 log.test/a\n", "3 \(rootA.base64)\n", "3 \(rootA.base64) a\n3 \(rootA.base64) a\n",
            "3 \(rootA.base64) a",
        ]
    )
    func damaged(text: String) throws {
        let directory = makeTemporaryDirectory("witness")
        try Data(text.utf8).write(to: URL(fileURLWithPath: directory + "/" + FileWitnessStore.fileName))
        #expect {
            _ = try FileWitnessStore(directory: directory)
        } throws: { error in
            (error as? ReceiptLogError)?.code == .integrityAlarm
        }
    }
}
