/// A listener socket created inside the sandbox's network namespace (127.0.0.1:port as seen by the worker).
public struct SandboxListener: Sendable, Equatable {
    public var port: UInt16
    /// Owned by the launcher until the sandbox has been waited for; a registrar that keeps it must dup it or pass
    /// it on (SCM_RIGHTS duplicates it).
    public var fd: Int32
}

/// The seam to the router: hands it the sandbox's listeners before the worker starts.
/// Throwing stops the launch with `SandboxLaunchError.Code.routerUnreachable`. Synchronous: the launcher is a
/// short-lived process with nothing else to do meanwhile, and it starts faster without the concurrency runtime.
public protocol RouterRegistrar: Sendable {
    func register(sandbox: String, listeners: [SandboxListener]) throws
    /// The router's egress CA certificate (PEM, public part only), which the sandbox must trust for the hosts the
    /// router inspects; nil when the router has none to offer. Asked before the worker is spawned.
    func egressCertificate() throws -> String?
}

extension RouterRegistrar {
    public func egressCertificate() throws -> String? { nil }
}

/// Registers nothing: for running without a router (development, benchmarks).
public struct NoRouterRegistrar: RouterRegistrar {
    public init() {}
    public func register(sandbox: String, listeners: [SandboxListener]) throws {}
}
