/// A seccomp profile in the OCI runtime-spec format (`linux.seccomp`), plus Docker's extensions
/// (`archMap`, `includes`/`excludes`) so Docker's default profile loads unchanged.
public struct OCISeccompProfile: Sendable, Equatable {
    public var defaultAction: String
    public var defaultErrnoRet: UInt32?
    public var architectures: [String]?
    public var archMap: [ArchitectureMap]?
    public var flags: [String]?
    public var listenerPath: String?
    public var listenerMetadata: String?
    public var syscalls: [SyscallRule]?

    /// Docker: the native architecture and the sub-architectures to allow alongside it.
    public struct ArchitectureMap: Sendable, Equatable {
        public var architecture: String
        public var subArchitectures: [String]?
    }

    public struct SyscallRule: Sendable, Equatable {
        public var names: [String]?
        /// Pre-OCI Docker profiles used a single `name`.
        public var name: String?
        public var action: String
        public var errnoRet: UInt32?
        public var args: [Argument]?
        public var comment: String?
        public var includes: Condition?
        public var excludes: Condition?
    }

    public struct Argument: Sendable, Equatable {
        public var index: UInt32
        public var value: UInt64
        public var valueTwo: UInt64?
        public var op: String
    }

    /// Docker: a rule applies only with (includes) or without (excludes) these capabilities, architectures or kernel.
    public struct Condition: Sendable, Equatable {
        public var caps: [String]?
        public var arches: [String]?
        public var minKernel: String?
    }

    /// The profile with `names` taken out of every rule, so they fall to the default action (rules left naming
    /// nothing are dropped).
    public func removing(_ names: [String]) -> OCISeccompProfile {
        guard !names.isEmpty else { return self }
        var copy = self
        copy.syscalls = syscalls?.compactMap { rule in
            var rule = rule
            if let list = rule.names {
                rule.names = list.filter { !names.contains($0) }
                if rule.names!.isEmpty && rule.name == nil { return nil }
            }
            if let name = rule.name, names.contains(name) {
                rule.name = nil
                if rule.names?.isEmpty ?? true { return nil }
            }
            return rule
        }
        return copy
    }
}
