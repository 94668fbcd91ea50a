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
    /// The worker's private temporary directory (modes without a mount namespace), removed after it exits.
    private let temporary: String?
    /// Whether this process relays the worker's pseudo-terminal (stopped, and the operator's terminal restored,
    /// once the worker has exited).
    private let relaysTerminal: Bool

    init(process: airlock_sandbox_process, listeners: [SandboxListener], temporary: String? = nil,
         relaysTerminal: Bool = false)
    {
        pid = process.pid
        self.temporary = temporary
        self.relaysTerminal = relaysTerminal
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
        if relaysTerminal { airlock_pty_relay_stop() }
        temporary.map(Self.removeTree)
        return rc == 0 ? SandboxExit(waitStatus: status) : .signaled(SIGKILL)
    }

    /// Removes a directory tree without following symbolic links: every level is opened with O_NOFOLLOW relative to
    /// its parent, so a link the worker left (or swapped in) is removed, never followed.
    static func removeTree(_ path: String) {
        removeEntry(parent: AT_FDCWD, name: path)
    }

    private static func removeEntry(parent: Int32, name: String) {
        if unlinkat(parent, name, 0) == 0 { return }
        let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0, let dir = fdopendir(fd) else {
            if fd >= 0 { close(fd) }
            return
        }
        var names: [String] = []
        while let entry = readdir(dir) {
            let child = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if child != "." && child != ".." { names.append(child) }
        }
        for child in names { removeEntry(parent: dirfd(dir), name: child) }
        closedir(dir)
        unlinkat(parent, name, AT_REMOVEDIR)
    }
}
