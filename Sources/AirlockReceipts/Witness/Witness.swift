#if canImport(Glibc)
import Glibc
#endif

/// A log a witness cosigns: its origin line and the keys that sign its checkpoints.
public struct WitnessedLog: Sendable, Hashable {
    /// The checkpoint origin line.
    public let origin: String
    /// The log's checkpoint verifier keys; a checkpoint needs a valid signature by one of them.
    public let keys: [NoteVerifierKey]

    public init(origin: String, keys: [NoteVerifierKey]) {
        self.origin = origin
        self.keys = keys
    }
}

/// The answer to an add-checkpoint request.
public struct WitnessAnswer: Sendable, Hashable {
    /// The HTTP status (c2sp.org/tlog-witness).
    public let status: Int
    /// The response content type.
    public let contentType: String
    /// The response body.
    public let body: String
    /// A line for the operator when the submission is evidence of a misbehaving log (a rollback or a fork).
    public let alarm: String?

    static func text(_ status: Int, _ body: String, alarm: String? = nil) -> WitnessAnswer {
        WitnessAnswer(status: status, contentType: "text/plain; charset=utf-8", body: body + "\n", alarm: alarm)
    }
}

/// The add-checkpoint logic of a C2SP tlog-witness (https://c2sp.org/tlog-witness): checks a submitted checkpoint's
/// signature and its consistency with the newest tree cosigned for its origin, stores it, and cosigns it.
public struct Witness: Sendable {
    /// At most this many proof lines (the spec's limit for clients).
    public static let maxProofLines = 63

    /// The witness's signing key.
    public let cosigner: Cosigner
    private let logs: [String: WitnessedLog]
    private let store: any WitnessStore
    private let now: @Sendable () -> UInt64

    /// A witness for `logs`, keeping its state in `store`. `now` gives seconds since the Unix epoch.
    public init(
        cosigner: Cosigner,
        logs: [WitnessedLog],
        store: any WitnessStore,
        now: @escaping @Sendable () -> UInt64 = { UInt64(max(0, time(nil))) }
    ) {
        self.cosigner = cosigner
        self.logs = Dictionary(
            logs.map { ($0.origin, $0) },
            uniquingKeysWith: { first, second in
                WitnessedLog(origin: first.origin, keys: first.keys + second.keys)
            })
        self.store = store
        self.now = now
    }

    /// Answers one add-checkpoint request body.
    public func addCheckpoint(_ body: [UInt8]) -> WitnessAnswer {
        let request: Request
        switch Request.parse(body) {
        case .success(let parsed): request = parsed
        case .failure(let bad): return .text(400, "bad add-checkpoint request: \(bad.reason)")
        }
        let checkpoint = request.checkpoint.checkpoint
        guard let log = logs[checkpoint.origin] else {
            return .text(404, "this witness does not witness a log with origin '\(checkpoint.origin)'")
        }
        switch request.checkpoint.note.check(keys: log.keys) {
        case .verified:
            break
        case .invalidSignature(let name, let id):
            return .text(
                403,
                "the signature by \(name)+\(NoteVerifierKey.hex(id)) on the checkpoint for '\(log.origin)' does not verify"
            )
        case .noKnownSignature(let found):
            return .text(
                403,
                "no signature on the checkpoint is by a key this witness trusts for '\(log.origin)' (found: \(found.joined(separator: ", ")))"
            )
        }
        guard request.oldSize <= checkpoint.size else {
            let cosigned = (try? store.latest(origin: log.origin))??.size ?? 0
            return .text(
                400,
                "old size \(request.oldSize) is larger than the checkpoint's size \(checkpoint.size)",
                alarm: checkpoint.size < cosigned ? Self.rollback(checkpoint, cosigned: cosigned) : nil
            )
        }
        do {
            return try decide(request, log: log)
        } catch where error.code == .unavailable {
            // Fail closed: without its state the witness cannot tell an extension from a fork, so it cosigns nothing.
            return .text(503, "the witness cannot reach its state, nothing was cosigned; retry later: \(error)")
        } catch {
            return .text(500, "the witness could not read or store its state: \(error)")
        }
    }

    private func decide(_ request: Request, log: WitnessedLog) throws(ReceiptLogError) -> WitnessAnswer {
        let checkpoint = request.checkpoint.checkpoint
        let current = try store.latest(origin: log.origin)
        let currentSize = current?.size ?? 0
        guard request.oldSize == currentSize else {
            return conflict(request, current: current)
        }
        if let current {
            if checkpoint.size == current.size {
                guard checkpoint.root == current.root, request.proof.isEmpty else {
                    return .text(
                        409,
                        "fork refused: a different root for size \(checkpoint.size) of '\(log.origin)' than the one cosigned",
                        alarm:
                            "witness: FORK refused for '\(log.origin)': size \(checkpoint.size) submitted with root \(checkpoint.root.base64), but root \(current.root.base64) was cosigned at that size"
                    )
                }
            } else if !ProofVerification.verifyConsistency(
                oldSize: current.size,
                newSize: checkpoint.size,
                oldRoot: current.root,
                newRoot: checkpoint.root,
                proof: request.proof
            ) {
                return .text(
                    422,
                    "the consistency proof from size \(current.size) to \(checkpoint.size) of '\(log.origin)' does not verify",
                    alarm:
                        "witness: FORK or bad proof refused for '\(log.origin)': size \(checkpoint.size) (root \(checkpoint.root.base64)) is not proven consistent with cosigned size \(current.size) (root \(current.root.base64))"
                )
            }
        } else if !request.proof.isEmpty {
            return .text(422, "the consistency proof must be empty when the old size is 0")
        }
        let new = WitnessedTree(size: checkpoint.size, root: checkpoint.root)
        if new != current {
            switch try store.replace(origin: log.origin, expected: current, with: new) {
            case .replaced: break
            case .conflict(let now): return conflict(request, current: now)
            }
        }
        let cosignature = try cosigner.cosign(checkpointText: request.checkpoint.note.text, timestamp: now())
        return WitnessAnswer(status: 200, contentType: "text/plain; charset=utf-8", body: cosignature.line, alarm: nil)
    }

    /// 409 with the stored size (c2sp.org/tlog-witness: body is the size and a newline, type text/x.tlog.size).
    private func conflict(_ request: Request, current: WitnessedTree?) -> WitnessAnswer {
        let checkpoint = request.checkpoint.checkpoint
        let size = current?.size ?? 0
        let alarm = checkpoint.size < size ? Self.rollback(checkpoint, cosigned: size) : nil
        return WitnessAnswer(status: 409, contentType: "text/x.tlog.size", body: "\(size)\n", alarm: alarm)
    }

    private static func rollback(_ checkpoint: Checkpoint, cosigned: UInt64) -> String {
        "witness: ROLLBACK refused for '\(checkpoint.origin)': size \(checkpoint.size) submitted, size \(cosigned) already cosigned"
    }

    struct Request {
        let oldSize: UInt64
        let proof: [MerkleHash]
        let checkpoint: SignedCheckpoint

        static func parse(_ body: [UInt8]) -> Result<Request, BadRequest> {
            // The header (old size and proof lines) ends at the first blank line; the checkpoint note follows.
            var lines: [ArraySlice<UInt8>] = []
            var start = 0
            var end: Int?
            var index = 0
            while index < body.count {
                if body[index] == UInt8(ascii: "\n") {
                    if index == start {
                        end = index + 1
                        break
                    }
                    lines.append(body[start..<index])
                    guard lines.count <= 1 + Witness.maxProofLines else {
                        return .failure(BadRequest("more than \(Witness.maxProofLines) consistency proof lines"))
                    }
                    start = index + 1
                }
                index += 1
            }
            guard let end else { return .failure(BadRequest("no blank line before the checkpoint")) }
            guard let first = lines.first, first.starts(with: Array("old ".utf8)),
                let oldText = String(validating: first.dropFirst(4), as: UTF8.self),
                let oldSize = Decimal.parseUInt64(oldText), oldText == String(oldSize)
            else {
                return .failure(BadRequest("the first line must be 'old <size>' in decimal without leading zeroes"))
            }
            var proof: [MerkleHash] = []
            for (number, line) in lines.dropFirst().enumerated() {
                guard let text = String(validating: line, as: UTF8.self), let hash = MerkleHash(base64: text) else {
                    return .failure(
                        BadRequest("consistency proof line \(number + 1) is not the base64 of a 32-byte hash"))
                }
                proof.append(hash)
            }
            do {
                let checkpoint = try SignedCheckpoint(parsing: Array(body[end...]))
                return .success(Request(oldSize: oldSize, proof: proof, checkpoint: checkpoint))
            } catch {
                return .failure(BadRequest(error.message))
            }
        }
    }

    struct BadRequest: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }
}
