#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch

/// Relays SIGTERM, SIGINT, SIGHUP and SIGQUIT from the launcher to the worker while it runs.
public final class SignalForwarding: @unchecked Sendable {
    private var sources: [any DispatchSourceSignal] = []

    public static let forwarded: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT]

    /// The launcher ignores these signals itself (a dispatch source needs the default action out of the way);
    /// the child resets every disposition before exec.
    public init(to sandbox: RunningSandbox) {
        for sig in Self.forwarded {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { sandbox.signal(sig) }
            source.resume()
            sources.append(source)
        }
    }

    /// Stops forwarding and restores the default dispositions.
    public func cancel() {
        sources.forEach { $0.cancel() }
        sources.removeAll()
        for sig in Self.forwarded { signal(sig, SIG_DFL) }
    }
}
