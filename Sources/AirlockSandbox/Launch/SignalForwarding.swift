import CAirlockSandbox

/// Relays SIGTERM, SIGINT, SIGHUP and SIGQUIT from the launcher to the sandbox's supervisor while it runs.
///
/// A plain signal handler (kill(2) is async-signal-safe) rather than a dispatch source: the launcher waits in a
/// blocking call on its main thread, and needs no event loop for four signals.
public enum SignalForwarding {
    /// Starts relaying to `sandbox`; the child resets every disposition before exec.
    public static func start(to sandbox: RunningSandbox) {
        airlock_forward_signals(sandbox.pid)
    }

    /// Stops relaying and restores the default dispositions.
    public static func stop() {
        airlock_forward_signals(0)
    }
}
