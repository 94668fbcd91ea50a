import Synchronization

/// The newest tree a witness cosigned for one log.
public struct WitnessedTree: Sendable, Hashable {
    /// The tree size.
    public let size: UInt64
    /// Its root hash.
    public let root: MerkleHash

    public init(size: UInt64, root: MerkleHash) {
        self.size = size
        self.root = root
    }
}

/// Where a witness keeps the newest tree it cosigned per log origin. The check of a submission against the stored
/// tree and the update must be one atomic step (c2sp.org/tlog-witness, add-checkpoint): ``replace(origin:expected:with:)``
/// is a compare-and-swap, so a store shared by several witness processes (a database row updated only where it still
/// holds `expected`) keeps that property as well as a file behind a lock does.
public protocol WitnessStore: Sendable {
    /// The newest cosigned tree for `origin`, or nil if none was ever cosigned.
    func latest(origin: String) throws(ReceiptLogError) -> WitnessedTree?

    /// Durably replaces the tree for `origin` with `new` if it is still `expected` (nil: none stored).
    func replace(origin: String, expected: WitnessedTree?, with new: WitnessedTree) throws(ReceiptLogError)
        -> WitnessStoreUpdate
}

/// The outcome of ``WitnessStore/replace(origin:expected:with:)``.
public enum WitnessStoreUpdate: Sendable, Hashable {
    /// The new tree is stored durably.
    case replaced
    /// Another submission changed the tree first; this is the one stored now.
    case conflict(current: WitnessedTree?)
}

/// A ``WitnessStore`` in one file for a single host: `<directory>/checkpoints`, one line `<size> <base64 root>
/// <origin>` per log, replaced atomically and durably (fsync of file and directory) on every change. An exclusive
/// lock on `<directory>/LOCK` keeps a second witness process off the same state.
public final class FileWitnessStore: WitnessStore {
    /// The state file's name inside the directory.
    public static let fileName = "checkpoints"

    private let path: String
    private let lock: LogLock
    private let trees: Mutex<[String: WitnessedTree]>

    /// Opens (or creates) the state directory and reads the state file.
    public init(directory: String) throws(ReceiptLogError) {
        try FileSystem.createDirectory(directory)
        lock = try LogLock(directory: directory, holder: "this witness state directory")
        path = directory + "/" + Self.fileName
        do {
            trees = Mutex(try Self.read(path))
        } catch {
            lock.release()
            throw error
        }
    }

    deinit {
        lock.release()
    }

    public func latest(origin: String) throws(ReceiptLogError) -> WitnessedTree? {
        trees.withLock { $0[origin] }
    }

    public func replace(origin: String, expected: WitnessedTree?, with new: WitnessedTree) throws(ReceiptLogError)
        -> WitnessStoreUpdate
    {
        let path = self.path
        return try trees.withLock {
            (trees: inout [String: WitnessedTree]) throws(ReceiptLogError) -> WitnessStoreUpdate in
            let current = trees[origin]
            guard current == expected else { return .conflict(current: current) }
            var next = trees
            next[origin] = new
            try FileSystem.writeAtomically(Self.encode(next), to: path, mode: 0o600)
            trees = next
            return .replaced
        }
    }

    private static func encode(_ trees: [String: WitnessedTree]) -> [UInt8] {
        var out = ""
        for (origin, tree) in trees.sorted(by: { $0.key < $1.key }) {
            out += "\(tree.size) \(tree.root.base64) \(origin)\n"
        }
        return Array(out.utf8)
    }

    private static func read(_ path: String) throws(ReceiptLogError) -> [String: WitnessedTree] {
        guard let bytes = try FileSystem.readFile(path) else { return [:] }
        guard let text = String(validating: bytes, as: UTF8.self), text.isEmpty || text.hasSuffix("\n") else {
            throw ReceiptLogError(
                .integrityAlarm,
                "the witness state is not UTF-8 text ending in a newline; restore it from a backup (starting empty would let a rolled-back log be cosigned)",
                path: path
            )
        }
        var trees: [String: WitnessedTree] = [:]
        for (number, line) in text.split(separator: "\n").enumerated() {
            let fields = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, let size = Decimal.parseUInt64(fields[0]),
                let root = MerkleHash(base64: fields[1]),
                !fields[2].isEmpty, trees[String(fields[2])] == nil
            else {
                throw ReceiptLogError(
                    .integrityAlarm,
                    "line \(number + 1) of the witness state is not '<size> <base64 root> <origin>' (or repeats an origin); restore the file from a backup",
                    path: path
                )
            }
            trees[String(fields[2])] = WitnessedTree(size: size, root: root)
        }
        return trees
    }
}
