/// The outcome of verifying a log directory.
public struct VerificationReport: Sendable {
    /// The log origin (from its checkpoints, or its first record).
    public var origin: String?
    /// The number of records checked.
    public var size: UInt64 = 0
    /// The root of all records checked.
    public var root: MerkleHash = RFC6962.emptyRoot
    /// Segment files read.
    public var segments = 0
    /// Records per kind.
    public var kinds: [String: UInt64] = [:]
    /// Checkpoint notes checked (history and latest).
    public var checkpointsChecked = 0
    /// The newest checkpoint that verified.
    public var latestCheckpoint: SignedCheckpoint?
    /// Names of the keys whose signatures verified on the newest checkpoint.
    public var signedBy: [String] = []
    /// The witnesses whose valid cosignatures met the required quorum on the newest checkpoint.
    public var cosignedBy: [String] = []
    /// The trusted checkpoint the log was checked against, if one was given.
    public var trustedCheckpoint: Checkpoint?
    /// Things an auditor should know that are not failures.
    public var warnings: [String] = []
    /// The first failure found; nil when the log verified.
    public var failure: VerificationFailure?

    /// Whether the log verified.
    public var isValid: Bool { failure == nil }

    /// A one-screen summary.
    public var summary: String {
        var lines: [String] = []
        if let failure {
            lines.append("FAILED: \(failure)")
        } else {
            lines.append("OK: receipt log verified")
        }
        lines.append("origin:      \(origin ?? "(unknown)")")
        lines.append("records:     \(size) in \(segments) segment(s)")
        if !kinds.isEmpty {
            lines.append("kinds:       " + kinds.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
        lines.append("root:        \(root.base64)")
        lines.append("checkpoints: \(checkpointsChecked) checked")
        if let latest = latestCheckpoint {
            lines.append("latest:      size \(latest.checkpoint.size), signed by \(signedBy.joined(separator: ", "))")
            if !cosignedBy.isEmpty {
                lines.append("witnessed:   by \(cosignedBy.joined(separator: ", "))")
            }
            if latest.checkpoint.size < size {
                lines.append("             \(size - latest.checkpoint.size) newer record(s) not yet covered by a checkpoint")
            }
        }
        if let trusted = trustedCheckpoint {
            lines.append("trusted:     size \(trusted.size) \(failure == nil ? "is consistent with this log" : "")")
        }
        for warning in warnings { lines.append("warning:     \(warning)") }
        return lines.joined(separator: "\n")
    }
}
