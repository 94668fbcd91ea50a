/// What a sandboxed worker may see and do. Decoded from a JSON policy file; every key is optional.
public struct SandboxPolicy: Sendable, Equatable {
    /// The worker's writable directory; bound read-write at the same path. Defaults to the launch directory.
    public var workdir: String?
    /// Identity the worker runs as (never 0): in privileged mode on the host, in user-namespace mode inside the
    /// namespace. By default from the range Airlock reserves for workers (`workerIDs`), which no host account
    /// should use; a UID or GID with a host account (passwd, group, subuid, subgid) is refused unless named in
    /// `hostAccount`.
    public var uid: UInt32 = SandboxPolicy.workerIDs.lowerBound
    public var gid: UInt32 = SandboxPolicy.workerIDs.lowerBound
    /// A host account the worker may run as, named on purpose (its files outside the view stay out of reach,
    /// but every file it owns inside the view becomes the worker's).
    public var hostAccount: String?
    /// Host paths added to the worker's view read-only, beyond the built-in allowlist (`RootView`): `/usr` and the
    /// merged-usr links, a curated `/etc`. Each must exist; none may be, contain or lie in a socket directory
    /// (`RootView.socketDirectories`) unless listed in `allowSocketPaths`.
    public var readonlyPaths: [String] = []
    /// Extra writable trees besides the workdir and the private /tmp; the same rules as `readonlyPaths`.
    public var readwritePaths: [String] = []
    /// Paths of `readonlyPaths`/`readwritePaths` that may show host sockets, named on purpose.
    public var allowSocketPaths: [String] = []
    /// Paths made unreadable inside the sandbox: the router's state, credentials and receipts.
    public var hiddenPaths: [String] = ["/var/lib/airlock", "/etc/airlock", "/run/airlock"]
    /// Resource limits applied to the worker.
    public var limits = ResourceLimits()
    /// Whether a missing Landlock feature stops the launch.
    public var landlock: LandlockMode = .required
    /// OCI runtime-spec seccomp profile; relative paths resolve against the policy file's directory.
    public var seccompProfile: String? = "policies/seccomp/agent-strict.json"
    /// Loopback ports inside the sandbox that lead to the router (8443 API, 3128 egress proxy).
    public var routerPorts: [UInt16] = [8443, 3128]
    /// Extra environment for the worker; the caller's environment is never inherited.
    public var environment: [String: String] = [:]
    /// Size of the private /tmp tmpfs (tmpfs `size=` syntax).
    public var tmpSize: String = "256m"

    public init() {}

    /// UIDs and GIDs reserved for workers: inside 65536–524287, which systemd leaves unused on a host (its dynamic
    /// users take 61184–65519, containers 524288 and up). Keep them out of passwd, group, subuid and subgid.
    public static let workerIDs: ClosedRange<UInt32> = 480_000...480_999
}

/// `required` fails the launch when the kernel lacks a Landlock feature the policy relies on;
/// `best-effort` runs anyway and reports what was missing.
public enum LandlockMode: String, Sendable, Codable, Equatable {
    case required
    case bestEffort = "best-effort"
}

/// RLIMIT_* values; `nil` leaves the inherited limit.
public struct ResourceLimits: Sendable, Equatable {
    public var openFiles: UInt64? = 1024
    public var processes: UInt64? = 256
    public var addressSpaceBytes: UInt64? = 8 << 30
    public var fileSizeBytes: UInt64? = 4 << 30
    public var cpuSeconds: UInt64?
    /// Always 0 unless a policy says otherwise: a core dump would copy the worker's memory outside the sandbox.
    public var coreBytes: UInt64? = 0

    public init() {}
}
