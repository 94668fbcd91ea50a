import AirlockReceipts
import ArgumentParser
import Foundation

/// `airlock receipts …`: the auditor's tools for a receipt log.
struct ReceiptsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receipts",
        abstract: "Verify, inspect and prove the signed receipt log.",
        subcommands: [
            ReceiptsVerify.self, ReceiptsShow.self, ReceiptsExport.self, ReceiptsProve.self,
            ReceiptsConsistency.self, ReceiptsFollow.self, ReceiptsKeygen.self,
        ]
    )
}

/// Reads `--key` values: a verifier key string, or a file holding one per line.
func loadVerifierKeys(_ values: [String]) throws -> [NoteVerifierKey] {
    let keys = try keyLines(values).map { try NoteVerifierKey(text: $0) }
    guard !keys.isEmpty else { throw ValidationError("give at least one --key (a verifier key or a file with one)") }
    return keys
}

/// Reads `--witness-key` values (a witness's cosigner key, or a file of them) and `--witnesses` into a k-of-n
/// policy (c2sp.org/tlog-policy); nil when neither is given. Without `--witnesses` every witness must cosign.
func loadWitnessPolicy(_ values: [String], quorum: Int?) throws -> WitnessPolicy? {
    let keys = try keyLines(values).map { try CosignerKey(text: $0) }
    if keys.isEmpty {
        guard quorum == nil else {
            throw ValidationError("--witnesses needs the witnesses' keys: give each with --witness-key (from 'airlock witness keygen')")
        }
        return nil
    }
    return try WitnessPolicy(witnesses: keys, quorum: quorum ?? keys.count)
}

/// Key option values: each is a key itself, or a file holding one key per line.
private func keyLines(_ values: [String]) throws -> [String] {
    var lines: [String] = []
    for value in values {
        if FileManager.default.fileExists(atPath: value) {
            let text = try String(contentsOfFile: value, encoding: .utf8)
            for line in text.split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                lines.append(String(line))
            }
        } else {
            lines.append(value)
        }
    }
    return lines
}

func readFileBytes(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ValidationError("cannot read \(path)")
    }
    return [UInt8](data)
}

struct ReceiptsVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recompute every leaf and root, check every checkpoint, and check against a trusted checkpoint."
    )

    @Argument(help: "The log directory.") var directory: String
    @Option(name: .customLong("key"), help: "A verifier key (name+id+base64) or a file of them. Repeatable.")
    var keys: [String] = []
    @Option(help: "A checkpoint saved from an earlier verification; detects truncation and forks.")
    var trustedCheckpoint: String?
    @Option(help: "Write the newest verified checkpoint here, to pass as --trusted-checkpoint next time.")
    var saveCheckpoint: String?
    @Option(
        name: .customLong("witness-key"),
        help: "A witness's key (name+id+base64, from 'airlock witness keygen') or a file of them. Repeatable."
    )
    var witnessKeys: [String] = []
    @Option(
        name: .customLong("witnesses"),
        help: "How many of the --witness-key witnesses must have validly cosigned the newest checkpoint (default: all)."
    )
    var witnessQuorum: Int?

    func run() throws {
        let auditor = Auditor(
            directory: directory,
            keys: try loadVerifierKeys(keys),
            witnessPolicy: try loadWitnessPolicy(witnessKeys, quorum: witnessQuorum)
        )
        let trusted = try trustedCheckpoint.map(readFileBytes)
        let report = try auditor.verify(trustedCheckpoint: trusted)
        print(report.summary)
        guard report.isValid else { throw ExitCode(1) }
        if let saveCheckpoint, let latest = report.latestCheckpoint {
            try Data(latest.serialized).write(to: URL(fileURLWithPath: saveCheckpoint))
        }
    }
}

struct ReceiptsShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show the log's state, or one record with its leaf hash."
    )

    @Argument(help: "The log directory.") var directory: String
    @Argument(help: "A record index.") var index: UInt64?

    func run() throws {
        let reader = LogReader(directory: directory)
        if let index {
            guard let entry = try reader.entry(at: index) else {
                printError("no record \(index) in \(directory)")
                throw ExitCode(1)
            }
            print("index:     \(entry.index)")
            print("leaf hash: \(entry.leafHash.hex)")
            for (name, value) in entry.fields { print("\(name): \(value)") }
            print("leaf:      \(entry.json)")
            return
        }
        let hashes = try reader.storedLeafHashes()
        print("records:    \(hashes.count)")
        print("root:       \(RFC6962.rootHash(leafHashes: hashes).base64) (from stored hashes; run verify to check)")
        if let latest = try reader.latestCheckpoint() {
            print("checkpoint: size \(latest.checkpoint.size), signed by "
                + latest.note.signatures.map { "\($0.name)" }.joined(separator: ", "))
            print(String(decoding: latest.serialized, as: UTF8.self), terminator: "")
        } else {
            print("checkpoint: none yet")
        }
    }
}

struct ReceiptsExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Print records as JSON lines (the exact stored leaf bytes, one per line)."
    )

    @Argument(help: "The log directory.") var directory: String
    @Option(help: "Output format; only jsonl.") var format = "jsonl"
    @Option(help: "First index (inclusive).") var from: UInt64 = 0
    @Option(help: "Last index (exclusive).") var to: UInt64 = .max
    @Option(help: "Only records of this sandbox.") var sandbox: String?
    @Option(help: "Only records of this kind.") var kind: String?

    func run() throws {
        guard format == "jsonl" else { throw ValidationError("only --format jsonl is supported") }
        guard from <= to else { throw ValidationError("--from must not be after --to") }
        let out = FileHandle.standardOutput
        var buffer: [UInt8] = []
        try LogReader(directory: directory).forEach(in: from..<to) { entry in
            if let sandbox, entry["sandbox"]?.stringValue != sandbox { return true }
            if let kind, entry.kind != kind { return true }
            buffer.append(contentsOf: entry.leaf)
            buffer.append(UInt8(ascii: "\n"))
            if buffer.count > 1 << 16 {
                out.write(Data(buffer))
                buffer.removeAll(keepingCapacity: true)
            }
            return true
        }
        out.write(Data(buffer))
    }
}

struct ReceiptsProve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prove",
        abstract: "Write an inclusion proof (c2sp.org/tlog-proof) for a record, or verify one with --verify."
    )

    @Argument(help: "The record index (when proving).") var index: UInt64?
    @Option(help: "The log directory (when proving).") var log: String?
    @Option(help: "Prove against this checkpoint file instead of the log's newest.") var checkpoint: String?
    @Option(help: "Verify this proof file instead of writing one.") var verify: String?
    @Option(name: .customLong("key"), help: "Verifier key or key file (when verifying). Repeatable.")
    var keys: [String] = []
    @Option(help: "The exact record bytes (when verifying), if not taken from the proof's extra line.")
    var leaf: String?
    @Option(
        name: .customLong("witness-key"),
        help: "When verifying: a witness's key or a file of them, whose cosignatures the checkpoint needs. Repeatable."
    )
    var witnessKeys: [String] = []
    @Option(
        name: .customLong("witnesses"),
        help: "When verifying: how many of the --witness-key witnesses must have cosigned (default: all)."
    )
    var witnessQuorum: Int?

    func run() throws {
        if let verify {
            let proof = try TLogProof(text: String(decoding: try readFileBytes(verify), as: UTF8.self))
            let checkpoint = try ProofChecker.verify(
                proof,
                keys: try loadVerifierKeys(keys),
                leaf: try leaf.map(readFileBytes).map { Array($0.prefix { $0 != UInt8(ascii: "\n") }) },
                witnessPolicy: try loadWitnessPolicy(witnessKeys, quorum: witnessQuorum)
            )
            let witnessed = witnessKeys.isEmpty ? "" : ", with the required witness cosignatures"
            print("OK: record \(proof.index) is included in \(checkpoint.origin) at size \(checkpoint.size)\(witnessed)")
            return
        }
        guard let index, let log else { throw ValidationError("give INDEX and --log DIR, or --verify FILE") }
        let signed = try checkpoint.map { try SignedCheckpoint(parsing: try readFileBytes($0)) }
        let proof = try Prover(directory: log).inclusionProof(index: index, checkpoint: signed)
        print(proof.text, terminator: "")
    }
}

struct ReceiptsConsistency: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consistency",
        abstract: "Check that checkpoint NEW extends checkpoint OLD (RFC 6962 consistency proof)."
    )

    @Argument(help: "The older checkpoint file.") var old: String
    @Argument(help: "The newer checkpoint file.") var new: String
    @Option(help: "Build the proof from this log directory (and print it).") var log: String?
    @Option(help: "Read the proof (base64 hashes, one per line) from this file instead.") var proof: String?
    @Option(name: .customLong("key"), help: "Verifier key or key file. Repeatable.") var keys: [String] = []

    func run() throws {
        let oldCheckpoint = try SignedCheckpoint(parsing: try readFileBytes(old))
        let newCheckpoint = try SignedCheckpoint(parsing: try readFileBytes(new))
        var path: [MerkleHash]
        if let proof {
            path = []
            for line in String(decoding: try readFileBytes(proof), as: UTF8.self).split(separator: "\n") {
                guard let hash = MerkleHash(base64: line) else { throw ValidationError("bad proof line '\(line)'") }
                path.append(hash)
            }
        } else if let log {
            path = try Prover(directory: log).consistencyProof(
                from: oldCheckpoint.checkpoint,
                to: newCheckpoint.checkpoint
            )
            for hash in path { print(hash.base64) }
        } else {
            throw ValidationError("give --log DIR to build the proof or --proof FILE to check one")
        }
        try ProofChecker.verifyConsistency(
            old: oldCheckpoint,
            new: newCheckpoint,
            proof: path,
            keys: try loadVerifierKeys(keys)
        )
        printError("OK: size \(newCheckpoint.checkpoint.size) is consistent with size \(oldCheckpoint.checkpoint.size)")
    }
}

struct ReceiptsFollow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "follow",
        abstract: "Print new records as JSON lines as they land; stops after --limit records or --duration seconds."
    )

    @Argument(help: "The log directory.") var directory: String
    @Option(help: "Start at this index (default: the current end of the log).") var from: UInt64?
    @Option(help: "Stop after this many records.") var limit: Int = .max
    @Option(help: "Stop after this many seconds.") var duration: Double = .infinity
    @Option(help: "Poll interval in milliseconds.") var interval: Int = 200

    func run() async throws {
        let start = try from ?? UInt64(LogReader(directory: directory).storedLeafHashes().count)
        var follower = LogFollower(directory: directory, from: start)
        let deadline = ContinuousClock.now + .milliseconds(Int64(min(duration, 1e9) * 1000))
        var printed = 0
        while printed < limit && ContinuousClock.now < deadline && !Task.isCancelled {
            let entries = try follower.poll(limit: limit - printed)
            for entry in entries { print(entry.json) }
            printed += entries.count
            if entries.isEmpty { try await Task.sleep(for: .milliseconds(interval)) }
        }
    }
}

struct ReceiptsKeygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make an Ed25519 checkpoint signing key: PREFIX.key (mode 0600) and PREFIX.pub (verifier key)."
    )

    @Option(help: "The key name, normally the log origin (e.g. airlock.example.com/receipts).") var name: String
    @Option(help: "Output path prefix.") var out: String

    func run() throws {
        let signer = try CheckpointSigner.generate(name: name)
        try signer.write(toPrefix: out)
        print(signer.verifierKey.text)
    }
}
