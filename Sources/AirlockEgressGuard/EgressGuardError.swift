/// Everything that can go wrong while parsing, rendering or applying the egress guard.
///
/// Each case's `description` is written for the operator who typed the command: it names the bad input and says what
/// would be accepted instead.
public enum EgressGuardError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An `--allow` value that is not `IPV4:PORT` or `[IPV6]:PORT`.
    case invalidAllow(input: String, reason: String)
    /// A UID the guard refuses to confine (root, or the reserved `(uid_t)-1`).
    case invalidUID(UInt32, reason: String)
    /// A table name that is not a plain nftables identifier.
    case invalidTableName(String)
    /// No `--allow` was given.
    case emptyAllowList
    /// The `nft` binary could not be found.
    case nftNotFound(searched: [String])
    /// `nft` ran but failed.
    case nftFailed(arguments: [String], status: Int32, stderr: String)
    /// A helper process did not finish in time and was killed.
    case timedOut(command: String, seconds: Double)
    /// A helper process could not be started.
    case cannotStart(command: String, reason: String)

    public var description: String {
        switch self {
        case .invalidAllow(let input, let reason):
            return "invalid --allow \"\(input)\": \(reason)"
        case .invalidUID(let uid, let reason):
            return "invalid --uid \(uid): \(reason)"
        case .invalidTableName(let name):
            return "invalid --table \"\(name)\": use 1-64 characters, a letter first, then letters, digits or _"
        case .emptyAllowList:
            return "at least one --allow HOST:PORT is required (the router's loopback ports)"
        case .nftNotFound(let searched):
            return "nft not found (searched \(searched.joined(separator: ", "))); "
                + "install the Debian package nftables: apt-get install -y nftables"
        case .nftFailed(let arguments, let status, let stderr):
            let detail = stderr.trimmingTrailingWhitespace()
            return "nft \(arguments.joined(separator: " ")) exited with status \(status)"
                + (detail.isEmpty ? "" : ": \(detail)")
        case .timedOut(let command, let seconds):
            return "\(command) did not finish within \(seconds) s and was killed"
        case .cannotStart(let command, let reason):
            return "cannot start \(command): \(reason); check that the program exists and is executable"
        }
    }
}

extension String {
    func trimmingTrailingWhitespace() -> String {
        var s = Substring(self)
        while let last = s.last, last.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
