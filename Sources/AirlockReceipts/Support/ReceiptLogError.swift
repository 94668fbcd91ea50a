/// An error from the receipt log, its storage, its keys or its verifier.
///
/// A struct wrapping a ``Code`` so that new cases can be added without breaking callers. The ``message`` says what
/// was wrong, where (file, record index, errno) and what to do about it.
public struct ReceiptLogError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Base: String, Sendable, Hashable {
            case io
            case integrityAlarm
            case invalidRecord
            case invalidKey
            case malformedNote
            case malformedProof
            case locked
            case closed
            case failed
            case witnessQuorum
            case unavailable
        }

        fileprivate let base: Base

        /// A system call failed (disk full, permission denied, ...).
        public static let io = Code(base: .io)
        /// The stored log contradicts its own signed checkpoint or tree state; it was not opened or changed.
        public static let integrityAlarm = Code(base: .integrityAlarm)
        /// A record could not be encoded (a field is too long, an extension key is invalid, ...).
        public static let invalidRecord = Code(base: .invalidRecord)
        /// A signing or verifier key could not be parsed or used.
        public static let invalidKey = Code(base: .invalidKey)
        /// A signed note or checkpoint is not well formed.
        public static let malformedNote = Code(base: .malformedNote)
        /// A proof file is not well formed.
        public static let malformedProof = Code(base: .malformedProof)
        /// Another process holds the log open for writing.
        public static let locked = Code(base: .locked)
        /// The log has been closed.
        public static let closed = Code(base: .closed)
        /// An earlier I/O failure left the log unable to accept appends; reopen it to recover.
        public static let failed = Code(base: .failed)
        /// A checkpoint lacks the witness cosignatures required of it.
        public static let witnessQuorum = Code(base: .witnessQuorum)
        /// A store kept on another server (the witness state in PostgreSQL) could not be reached in time; retry
        /// once it is back.
        public static let unavailable = Code(base: .unavailable)

        public var description: String { base.rawValue }

        /// How a sentence about this kind of failure starts.
        var lead: String {
            switch base {
            case .io: "Cannot read or write the receipt log"
            case .integrityAlarm: "Integrity alarm"
            case .invalidRecord: "Invalid receipt"
            case .invalidKey: "Invalid key"
            case .malformedNote: "Malformed checkpoint"
            case .malformedProof: "Malformed proof"
            case .locked: "Receipt log in use"
            case .closed: "Receipt log closed"
            case .failed: "Receipt log stopped"
            case .witnessQuorum: "Witness quorum not met"
            case .unavailable: "State unavailable"
            }
        }
    }

    /// What kind of failure this is.
    public let code: Code
    /// A sentence for a human: what, where, and what to do.
    public let message: String
    /// The file involved, if any.
    public let path: String?
    /// The record index involved, if any.
    public let index: UInt64?
    /// The errno of a failed system call, if any.
    public let errno: Int32?

    /// Creates an error.
    public init(_ code: Code, _ message: String, path: String? = nil, index: UInt64? = nil, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.index = index
        self.errno = errno
    }

    /// One sentence: the kind of failure, the message, and where (file, record index).
    public var description: String {
        var text = code.lead + ": " + message
        while let last = text.last, last == "." || last == " " { text.removeLast() }
        var places: [String] = []
        if let path { places.append("file \(path)") }
        if let index { places.append("record \(index)") }
        if !places.isEmpty { text += " (" + places.joined(separator: ", ") + ")" }
        return text + "."
    }
}
