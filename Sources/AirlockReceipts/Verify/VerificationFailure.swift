/// Why a log failed verification, and where.
public struct VerificationFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure. A struct so that reasons can be added.
    public struct Reason: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A frame is damaged: bad length or cut short, not at the very end.
        public static let damagedFrame = Reason(rawValue: "damaged-frame")
        /// The leaf bytes do not hash to the stored leaf hash: the record or its stored hash was altered.
        public static let leafHashMismatch = Reason(rawValue: "leaf-hash-mismatch")
        /// The record is not canonical JSON of strings, integers and booleans.
        public static let nonCanonicalRecord = Reason(rawValue: "non-canonical-record")
        /// A required field (`v`, `origin`, `index`, `time`, `kind`) is missing or has the wrong type or version.
        public static let invalidRecord = Reason(rawValue: "invalid-record")
        /// The record's `index` is not its position: records were deleted, inserted or reordered.
        public static let wrongIndex = Reason(rawValue: "wrong-index")
        /// The record's `origin` is not the log's.
        public static let wrongOrigin = Reason(rawValue: "wrong-origin")
        /// Segment files do not follow one another.
        public static let segmentGap = Reason(rawValue: "segment-gap")
        /// A checkpoint note is malformed.
        public static let malformedCheckpoint = Reason(rawValue: "malformed-checkpoint")
        /// A checkpoint signature by a known key does not verify.
        public static let badSignature = Reason(rawValue: "bad-signature")
        /// A checkpoint carries no signature by any of the given keys.
        public static let noKnownSignature = Reason(rawValue: "no-known-signature")
        /// A checkpoint's root differs from the tree at its size: records were altered or the log forked.
        public static let rootMismatch = Reason(rawValue: "root-mismatch")
        /// The log has fewer records than a checkpoint commits to.
        public static let truncated = Reason(rawValue: "truncated")
        /// The log's newest checkpoint is older than the trusted checkpoint.
        public static let rolledBack = Reason(rawValue: "rolled-back")
        /// There are no verifier keys to check against.
        public static let noKeys = Reason(rawValue: "no-keys")
        /// A member's value has the wrong JSON type (a string where an integer belongs, a boolean anywhere).
        public static let wrongType = Reason(rawValue: "wrong-type")
        /// A string value is longer than 512 bytes of UTF-8.
        public static let stringTooLong = Reason(rawValue: "string-too-long")
        /// A member name is not `[a-z][a-z0-9_]*` of at most 64 bytes.
        public static let invalidFieldName = Reason(rawValue: "invalid-field-name")
        /// A well-formed member name that format version 1 does not define.
        public static let unknownField = Reason(rawValue: "unknown-field")
        /// A value outside its allowed set, format or range.
        public static let invalidValue = Reason(rawValue: "invalid-value")
        /// Record 0 is not the admin record announcing the signing keys.
        public static let invalidFirstRecord = Reason(rawValue: "invalid-first-record")
        /// A trusted key verified a checkpoint, but the log's admin records do not announce it at that size.
        public static let keyNotAnnounced = Reason(rawValue: "key-not-announced")
        /// A checkpoint lacks the signature of a key the log announced for its size.
        public static let announcedKeyMissing = Reason(rawValue: "announced-key-missing")
        /// `checkpoint` or `checkpoints.log` is missing although a trusted checkpoint says the log was signed.
        public static let missingCheckpoint = Reason(rawValue: "missing-checkpoint")
        /// The newest checkpoint lacks the required quorum of valid witness cosignatures.
        public static let witnessQuorum = Reason(rawValue: "witness-quorum")
        /// `checkpoint` is not the newest entry of `checkpoints.log`.
        public static let checkpointNotLatest = Reason(rawValue: "checkpoint-not-latest")
    }

    /// What failed.
    public let reason: Reason
    /// The record index, for record failures.
    public let index: UInt64?
    /// The checkpoint's tree size, for checkpoint failures.
    public let checkpointSize: UInt64?
    /// The file involved.
    public let path: String?
    /// A sentence for a human.
    public let message: String

    public var description: String {
        var where_ = ""
        if let index { where_ += " at index \(index)" }
        if let checkpointSize { where_ += " (checkpoint of size \(checkpointSize))" }
        if let path { where_ += " in \(path)" }
        return "\(reason)\(where_): \(message)"
    }
}
