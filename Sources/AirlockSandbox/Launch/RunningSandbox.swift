#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CAirlockSandbox

/// A started sandbox: its supervisor process, listeners, and the eventual exit of the worker.
public final class RunningSandbox: Sendable {
    /// Supervisor pid (PID 1 of the sandbox's pid namespace), in the launcher's namespace.
    public let pid: Int32
    /// Listeners inside the sandbox's network namespace; closed by `wait()`.
    public let listeners: [SandboxListener]
    private let controlFD: Int32
    private let reportFD: Int32

    init(process: airlock_sandbox_process, listeners: [SandboxListener]) {
        pid = process.pid
        controlFD = process.control_fd
        reportFD = process.report_fd
        self.listeners = listeners
    }

    /// Forwards a signal; the supervisor relays it to the worker.
    public func signal(_ signal: Int32) {
        kill(pid, signal)
    }

    /// Blocks until the worker has exited and the supervisor is reaped; call once. Async callers run it on a
    /// thread of their own rather than on a cooperative one.
    public func wait() -> SandboxExit {
        var status: Int32 = 0
        let rc = airlock_sandbox_wait(pid, controlFD, &status)
        close(controlFD)
        close(reportFD)
        listeners.forEach { close($0.fd) }
        return rc == 0 ? SandboxExit(waitStatus: status) : .signaled(SIGKILL)
    }
}
