import CAirlockLinux
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a finished helper process left behind.
public struct CommandResult: Equatable, Sendable {
    /// The exit status (or 128 + signal number when it was killed by a signal).
    public var status: Int32
    /// Everything it wrote to standard output.
    public var stdout: String
    /// Everything it wrote to standard error.
    public var stderr: String

    /// Creates a result; public so tests can fake `nft`.
    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Runs a program to completion. A protocol so the `nft` logic can be unit-tested without root.
public protocol CommandRunning: Sendable {
    /// Runs `executable` with `arguments`, feeding `input` on standard input, killing it after `timeout`.
    func run(_ executable: String, _ arguments: [String], input: String?, timeout: Duration) async throws
        -> CommandResult
}

/// Runs programs with `posix_spawn`, reading their output with `poll` on a thread of its own, with a hard deadline.
///
/// Not Foundation's `Process`: on Linux its `run` lists `/proc/self/fd` and can read past the end of glibc's
/// directory buffer once the calling process holds more than about 1,300 descriptors, which crashes the process (a
/// router's or a test run's), and its pipes are closed when the objects go, under readers that may still use them.
/// Here one thread owns every descriptor from start to end.
public struct ProcessRunner: CommandRunning {
    /// How long output may stay open after the child exited (a grandchild holding it) before the runner stops
    /// reading.
    static let afterExit: Double = 2

    /// Creates a runner.
    public init() {}

    public func run(
        _ executable: String,
        _ arguments: [String],
        input: String?,
        timeout: Duration
    ) async throws -> CommandResult {
        // The child's life is waited for with blocking calls: a thread of its own, never one of the cooperative
        // pool's (two on a 2-core machine).
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try Self.runBlocking(executable, arguments, input, timeout) })
            }
        }
    }

    private static func runBlocking(
        _ executable: String,
        _ arguments: [String],
        _ input: String?,
        _ timeout: Duration
    ) throws -> CommandResult {
        let name = ([executable] + arguments).joined(separator: " ")
        // A child that exits without reading its input makes our write fail with EPIPE; the signal that comes with it
        // stays pending on this thread, which ends with the run.
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)

        var stdinPipe: [Int32] = [-1, -1]
        var stdoutPipe: [Int32] = [-1, -1]
        var stderrPipe: [Int32] = [-1, -1]
        func closeAll() {
            for fd in stdinPipe + stdoutPipe + stderrPipe where fd >= 0 { close(fd) }
        }
        let made = [airlock_pipe_cloexec(&stdinPipe), airlock_pipe_cloexec(&stdoutPipe), airlock_pipe_cloexec(&stderrPipe)]
        if let failed = made.first(where: { $0 != 0 }) {
            let code = -failed
            closeAll()
            throw EgressGuardError.cannotStart(command: name, reason: "pipe2: \(String(cString: strerror(code)))")
        }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: Int32 = 0
        // Every other descriptor of this process closed in the child, an empty signal mask, SIGPIPE at its default.
        let rc = airlock_spawn_piped(executable, argv, environ, stdinPipe[0], stdoutPipe[1], stderrPipe[1], &pid)
        let spawned = -rc
        // The child has its copies (or never will).
        close(stdinPipe[0])
        close(stdoutPipe[1])
        close(stderrPipe[1])
        stdinPipe[0] = -1
        stdoutPipe[1] = -1
        stderrPipe[1] = -1
        guard spawned == 0 else {
            closeAll()
            throw EgressGuardError.cannotStart(command: name, reason: String(cString: strerror(spawned)))
        }

        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        var io = ChildIO(stdin: stdinPipe[1], stdout: stdoutPipe[0], stderr: stderrPipe[0], input: Array((input ?? "").utf8))
        let finished = io.run(child: pid, deadline: monotonicSeconds() + seconds)
        io.closeAll()
        if !finished {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            let graceEnd = monotonicSeconds() + 1
            while waitpid(pid, &status, WNOHANG) == 0 {
                if monotonicSeconds() > graceEnd {
                    kill(pid, SIGKILL)
                    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                    break
                }
                usleep(10_000)
            }
            throw EgressGuardError.timedOut(command: name, seconds: seconds)
        }
        let status = io.exitStatus ?? Self.reap(pid)
        return CommandResult(
            status: status, stdout: String(decoding: io.stdoutBytes, as: UTF8.self),
            stderr: String(decoding: io.stderrBytes, as: UTF8.self))
    }

    /// Waits for `pid` and returns its status: the exit code, or 128 + the signal that ended it.
    static func reap(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return decode(status)
    }

    static func decode(_ status: Int32) -> Int32 {
        (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}

/// The child's three pipes, served by one `poll` loop: its input written as it can take it (then closed), both
/// outputs read to their ends.
private struct ChildIO {
    var stdin: Int32
    var stdout: Int32
    var stderr: Int32
    let input: [UInt8]
    var written = 0
    var stdoutBytes: [UInt8] = []
    var stderrBytes: [UInt8] = []
    /// The child's status, once it was reaped here.
    var exitStatus: Int32?

    init(stdin: Int32, stdout: Int32, stderr: Int32, input: [UInt8]) {
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.input = input
        _ = fcntl(stdin, F_SETFL, fcntl(stdin, F_GETFL) | O_NONBLOCK)
        if input.isEmpty { closeInput() }
    }

    mutating func closeInput() {
        if stdin >= 0 { close(stdin) }
        stdin = -1
    }

    mutating func closeAll() {
        closeInput()
        for fd in [stdout, stderr] where fd >= 0 { close(fd) }
        stdout = -1
        stderr = -1
    }

    /// Serves the pipes until both outputs end (or, once the child has exited, for `afterExit` more seconds at most).
    /// Returns false when `deadline` passed first.
    mutating func run(child: pid_t, deadline: Double) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var readingUntil = Double.infinity
        while stdout >= 0 || stderr >= 0 {
            let now = ProcessRunner.monotonicSeconds()
            if now >= deadline { return false }
            if now >= readingUntil { return true }
            if exitStatus == nil {
                var status: Int32 = 0
                if waitpid(child, &status, WNOHANG) == child {
                    exitStatus = ProcessRunner.decode(status)
                    // A grandchild may hold the outputs open: what it writes meanwhile is kept, for a while.
                    readingUntil = now + ProcessRunner.afterExit
                }
            }
            var fds = [
                pollfd(fd: stdout, events: Int16(POLLIN), revents: 0),
                pollfd(fd: stderr, events: Int16(POLLIN), revents: 0),
                pollfd(fd: stdin, events: Int16(POLLOUT), revents: 0),
            ]
            // Short waits while the child runs, so its exit is seen soon even if a grandchild keeps the pipes.
            let wait = Int32(max(1, min(100, (min(deadline, readingUntil) - now) * 1000)))
            let ready = poll(&fds, nfds_t(fds.count), wait)
            if ready < 0 {
                if errno == EINTR { continue }
                return true
            }
            for (index, entry) in fds.enumerated().prefix(2) where entry.fd >= 0 && entry.revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    if index == 0 { stdoutBytes += buffer[0..<n] } else { stderrBytes += buffer[0..<n] }
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    close(entry.fd)
                    if index == 0 { stdout = -1 } else { stderr = -1 }
                }
            }
            if stdin >= 0, fds[2].revents != 0 {
                let n = input[written...].withUnsafeBytes { write(stdin, $0.baseAddress, $0.count) }
                if n > 0 {
                    written += n
                    if written == input.count { closeInput() }
                } else if n < 0 && errno != EINTR && errno != EAGAIN {
                    // EPIPE: the child will not read it.
                    closeInput()
                }
            }
        }
        return true
    }
}

