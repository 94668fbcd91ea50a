import AirlockPolicy
import AirlockReceipts
import Logging
import NIOCore
import NIOPosix

/// Submits the receipt log's newest checkpoint to each configured witness (c2sp.org/tlog-witness) and adds the
/// valid cosignatures to the stored checkpoint. It reads the `checkpoint` file once a second, so the commit path
/// never waits for a witness; a witness that is down or refuses is logged and retried, and never stops the router.
/// The checkpoint written at shutdown is submitted after the log is closed, before the router exits.
///
/// Consistency proofs come from the log's Merkle tree, which the submitter keeps in memory (about 64 bytes per
/// record) and extends from the segment files as the log grows: each record is read once, not once per proof. All
/// file reading runs on NIO's blocking-I/O thread pool, never on the threads that run requests.
final class WitnessSubmitter: Sendable {
    /// One configured witness.
    struct Target: Sendable {
        let url: WitnessURL
        let key: CosignerKey
    }

    private let log: ReceiptLog
    private let targets: [Target]
    private let client: WitnessClient
    private let logger: Logger
    private let interval: Duration
    /// How long one submission may take while the router serves.
    static let timeout = TimeAmount.seconds(10)
    /// How long one submission may take at shutdown, when the router waits for it before exiting.
    static let shutdownTimeout = TimeAmount.seconds(3)

    /// The log's tree as far as it has been read.
    private struct TreeFollower: Sendable {
        var reader: LogFollower
        var tree = MerkleTree()
    }

    private let follower: Locked<TreeFollower>

    /// What is known of each witness (by position in `targets`): the size it last cosigned, and the size it refused
    /// (not retried until the log grows).
    private struct Progress {
        var cosignedSize: UInt64?
        var refusedSize: UInt64?
    }

    private let progress: Locked<[Progress]>

    /// Parses the configured witnesses; a bad URL or key stops the router's start with the entry named.
    init(
        log: ReceiptLog, settings: [ReceiptSettings.WitnessSettings], group: any EventLoopGroup, logger: Logger,
        interval: Duration = .seconds(1)
    ) throws {
        var targets: [Target] = []
        for (i, witness) in settings.enumerated() {
            guard let url = WitnessURL(witness.url) else {
                throw RouterStartError(
                    "receipts.witnesses[\(i)].url \"\(witness.url)\" is not an http://host:port[/path] URL")
            }
            do {
                targets.append(Target(url: url, key: try CosignerKey(text: witness.key)))
            } catch {
                throw RouterStartError("receipts.witnesses[\(i)].key: \(error)")
            }
        }
        self.log = log
        self.targets = targets
        self.client = WitnessClient(group: group)
        self.logger = logger
        self.interval = interval
        self.progress = Locked(Array(repeating: Progress(), count: targets.count))
        self.follower = Locked(TreeFollower(reader: LogFollower(directory: log.configuration.directory)))
    }

    /// Submits until cancelled.
    func run() async {
        while !Task.isCancelled {
            await submitNewest()
            try? await Task.sleep(for: interval)
        }
    }

    /// Submits the stored checkpoint to every witness whose cosignature it lacks, each submission bounded by
    /// `timeout`.
    func submitNewest(timeout: TimeAmount = WitnessSubmitter.timeout) async {
        let newest: SignedCheckpoint
        do {
            let directory = log.configuration.directory
            guard
                let stored = try await NIOThreadPool.singleton.runIfActive({
                    try LogReader(directory: directory).latestCheckpoint()
                })
            else { return }
            newest = stored
        } catch {
            logger.error("witness submission: cannot read the checkpoint", metadata: ["error": "\(error)"])
            return
        }
        for (position, target) in targets.enumerated() {
            if Self.isCosigned(newest.note, by: target.key) { continue }
            let known = progress.withLock { $0[position] }
            if known.refusedSize == newest.checkpoint.size { continue }
            await submit(newest, to: target, position: position, timeout: timeout)
        }
    }

    /// The consistency proof from `old` records to `checkpoint`, from the tree extended with the records added
    /// since the last proof. Blocks on file reads: call it on the blocking-I/O pool.
    private func consistencyProof(from old: UInt64, to checkpoint: Checkpoint) throws -> [MerkleHash] {
        let directory = log.configuration.directory
        return try follower.withLock { (follower: inout TreeFollower) throws -> [MerkleHash] in
            while follower.tree.size < checkpoint.size {
                let entries = try follower.reader.poll(limit: 65_536)
                if entries.isEmpty { break }
                for entry in entries { follower.tree.append(leafHash: entry.leafHash) }
            }
            try Prover.check(checkpoint, against: follower.tree, directory: directory)
            return try follower.tree.consistencyProof(oldSize: old, newSize: checkpoint.size)
        }
    }

    private func submit(_ checkpoint: SignedCheckpoint, to target: Target, position: Int, timeout: TimeAmount) async {
        let size = checkpoint.checkpoint.size
        let witness = "\(target.key.name) (\(target.url.host):\(target.url.port))"
        var old = progress.withLock { $0[position].cosignedSize } ?? 0
        // At most two tries: the second after a 409 that told the witness's size.
        for _ in 0..<2 {
            guard old <= size else {
                logger.error(
                    "witness refused the checkpoint: it has cosigned a larger tree of this log than its newest checkpoint (the log was rolled back, or another router writes under its origin)",
                    metadata: ["witness": "\(witness)", "witness.size": "\(old)", "checkpoint.size": "\(size)"]
                )
                progress.withLock { $0[position].refusedSize = size }
                return
            }
            let proof: [MerkleHash]
            do {
                if old == 0 || old == size {
                    proof = []
                } else {
                    let from = old
                    proof = try await NIOThreadPool.singleton.runIfActive {
                        try self.consistencyProof(from: from, to: checkpoint.checkpoint)
                    }
                }
            } catch {
                logger.error(
                    "witness submission: cannot build the consistency proof",
                    metadata: ["witness": "\(witness)", "error": "\(error)"])
                return
            }
            let body =
                "old \(old)\n" + proof.map { $0.base64 + "\n" }.joined() + "\n"
                + String(decoding: checkpoint.serialized, as: UTF8.self)
            let answer: WitnessClient.Answer
            do {
                answer = try await client.addCheckpoint(target.url, body: body, timeout: timeout)
            } catch {
                logger.warning(
                    "witness submission failed; retrying", metadata: ["witness": "\(witness)", "error": "\(error)"])
                return
            }
            switch answer.status {
            case 200:
                await accept(answer.body, for: checkpoint, from: target, position: position, witness: witness)
                return
            case 409 where answer.contentType.hasPrefix("text/x.tlog.size"):
                guard let theirs = UInt64(answer.body.trimmingWhitespace()), theirs != old else {
                    refused(answer, size: size, position: position, witness: witness)
                    return
                }
                old = theirs
                progress.withLock { $0[position].cosignedSize = theirs }
            case 500...599:
                // The witness could not decide (its state database is away, it is shutting down): like a witness
                // that is down, retried at the next round rather than taken as a refusal of this checkpoint.
                logger.warning(
                    "witness could not answer; retrying",
                    metadata: ["witness": "\(witness)", "status": "\(answer.status)", "reason": "\(answer.body.split(separator: "\n").first ?? "")"])
                return
            default:
                refused(answer, size: size, position: position, witness: witness)
                return
            }
        }
    }

    private func accept(
        _ body: String, for checkpoint: SignedCheckpoint, from target: Target, position: Int, witness: String
    ) async {
        let size = checkpoint.checkpoint.size
        let lines: [SignedNote.Signature]
        do {
            let note = try SignedNote(parsing: checkpoint.serialized + Array(body.utf8))
            lines = note.signatures.filter { line in
                guard target.key.matches(line), let cosignature = try? Cosignature(line) else { return false }
                return target.key.verify(cosignature, checkpointText: checkpoint.note.text)
            }
        } catch {
            logger.error(
                "witness submission: the answer is not signature lines",
                metadata: ["witness": "\(witness)", "error": "\(error)"])
            return
        }
        guard !lines.isEmpty else {
            logger.error(
                "witness submission: the answer has no valid cosignature by the configured witness key",
                metadata: ["witness": "\(witness)", "key": "\(target.key.text)"]
            )
            progress.withLock { $0[position].refusedSize = size }
            return
        }
        progress.withLock { $0[position] = Progress(cosignedSize: size, refusedSize: nil) }
        do {
            let log = self.log
            if try await NIOThreadPool.singleton.runIfActive({ try log.addCosignatures(lines, to: checkpoint) }) {
                logger.info("checkpoint cosigned", metadata: ["witness": "\(witness)", "checkpoint.size": "\(size)"])
            }
        } catch {
            logger.error(
                "witness submission: cannot store the cosignature",
                metadata: ["witness": "\(witness)", "error": "\(error)"])
        }
    }

    private func refused(_ answer: WitnessClient.Answer, size: UInt64, position: Int, witness: String) {
        progress.withLock { $0[position].refusedSize = size }
        let reason = answer.body.split(separator: "\n").first.map(String.init) ?? ""
        logger.error(
            "witness refused the checkpoint\(answer.status == 409 || answer.status == 422 ? ": it saw a different history of this log (a fork or rollback)" : "")",
            metadata: [
                "witness": "\(witness)", "status": "\(answer.status)", "reason": "\(reason)",
                "checkpoint.size": "\(size)",
            ]
        )
    }

    static func isCosigned(_ note: SignedNote, by key: CosignerKey) -> Bool {
        note.signatures.contains { line in
            guard key.matches(line), let cosignature = try? Cosignature(line) else { return false }
            return key.verify(cosignature, checkpointText: note.text)
        }
    }
}
