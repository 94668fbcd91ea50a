import CAirlockSandbox

/// The Landlock ruleset the worker will get, computed in the parent from the policy and the kernel's ABI.
public struct LandlockPlan: Sendable {
    public struct PathRule: Sendable {
        public var path: String
        public var access: UInt64
    }

    /// ABI the kernel reports (0: Landlock unavailable).
    public var abi: Int
    public var handledFilesystem: UInt64
    public var handledNetwork: UInt64
    public var scoped: UInt64
    public var pathRules: [PathRule]
    public var connectPorts: [UInt16]
    /// Protections the policy wants that this kernel cannot give.
    public var missing: [String]

    /// The running kernel's Landlock ABI.
    public static var kernelABI: Int { Int(airlock_landlock_abi()) }

    /// Read-only on the view's allowlist (`readable`), read-write only in the workdir, the private temporary
    /// directories (`temporary`: /tmp and /dev/shm in the view, or the launcher's own directory without a mount
    /// namespace) and extra read-write paths; TCP connect only to the router's ports; no binding; abstract Unix
    /// sockets and signals scoped to the sandbox.
    public init(policy: SandboxPolicy, readable: [String], workdir: String, temporary: [String],
                abi: Int = LandlockPlan.kernelABI)
    {
        self.abi = abi
        handledFilesystem = LandlockAccess.handledFilesystem(abi: abi)
        handledNetwork = LandlockAccess.handledNetwork(abi: abi)
        scoped = LandlockAccess.scoped(abi: abi)
        let writable = handledFilesystem & ~(LandlockAccess.makeChar | LandlockAccess.makeBlock)
        // /dev holds only the nodes the launcher bound there; writing /dev/null and terminal ioctls must work.
        let devices = LandlockAccess.readOnly | LandlockAccess.writeFile | LandlockAccess.truncate
            | LandlockAccess.ioctlDev
        pathRules = readable.map { PathRule(path: $0, access: LandlockAccess.readOnly) }
            + [PathRule(path: "/dev", access: devices)]
            + ([workdir] + temporary + policy.readwritePaths).map { PathRule(path: $0, access: writable) }
        connectPorts = policy.routerPorts
        missing = []
        if abi < 1 { missing.append("Landlock (kernel without CONFIG_SECURITY_LANDLOCK or not in lsm=)") }
        if abi >= 1 && abi < 2 { missing.append("Landlock refer (ABI 2): renames across directories are not mediated") }
        if abi >= 1 && abi < 3 { missing.append("Landlock truncate (ABI 3)") }
        if abi < 4 { missing.append("Landlock TCP connect/bind (ABI 4): network limited by namespace only") }
        if abi >= 1 && abi < 5 { missing.append("Landlock ioctl on devices (ABI 5)") }
        if abi < 6 { missing.append("Landlock scoping of abstract Unix sockets and signals (ABI 6)") }
    }
}
