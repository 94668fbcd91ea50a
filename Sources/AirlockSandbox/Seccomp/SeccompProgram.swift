/// A compiled seccomp BPF program, ready to hand to the post-fork child, and what went into it.
public struct SeccompProgram: Sendable {
    /// Raw `struct sock_filter` array.
    public var filter: [UInt8]
    /// `SECCOMP_FILTER_FLAG_*` for seccomp(2).
    public var flags: UInt32
    /// Human summary for `policy explain`; nil for a program read back from the cache, which keeps only the
    /// instructions.
    public var summary: SeccompSummary?

    /// Number of BPF instructions.
    public var instructionCount: Int { filter.count / 8 }
}

public struct SeccompSummary: Sendable {
    public var defaultAction: String
    public var architectures: [String]
    /// Syscalls allowed with no argument condition.
    public var allowed: [String]
    /// Syscalls allowed only when their arguments match, with the condition.
    public var conditional: [String: [String]]
    /// Syscalls with an explicit non-allow action ("clone3 → ERRNO(ENOSYS)").
    public var explicit: [String: String]
    /// Names libseccomp does not know on this system; skipped (a name unknown to libseccomp cannot be called
    /// through it either, and under a deny-by-default profile it stays denied).
    public var unknown: [String]
    /// Rules left out because their Docker `includes`/`excludes` do not match (capabilities the worker lacks...).
    public var skippedRules: Int
}
