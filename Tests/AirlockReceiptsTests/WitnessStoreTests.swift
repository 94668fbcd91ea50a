import Foundation
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
