#if canImport(Glibc)
import Glibc
#endif
import CAirlockLinux
import Foundation

/// A child process started with `posix_spawn`, with the few names of Foundation's `Process` that tests use. Not
/// `Process` itself: its `run` lists `/proc/self/fd` and crashes a test process that holds more than about 1,300
/// descriptors (see `Spawn`), which the test process does while many suites run at once.
public final class ChildProcess: @unchecked Sendable {
    public enum TerminationReason: Sendable { case exit, uncaughtSignal }

    public let processIdentifier: Int32
    public let arguments: [String]?
    private let lock = NSLock()
    /// The wait status, once reaped.
    private var waitStatus: Int32?

    init(pid: Int32, arguments: [String]) {
        processIdentifier = pid
        self.arguments = arguments
    }

    /// Whether it still runs; reaps it (once) when it has exited.
    public var isRunning: Bool {
        lock.withLock {
            guard waitStatus == nil else { return false }
            var status: Int32 = 0
            let reaped = waitpid(processIdentifier, &status, WNOHANG)
            if reaped == processIdentifier {
                waitStatus = status
                return false
            }
            return !(reaped < 0 && errno == ECHILD)
        }
    }

    /// The exit status, or the number of the signal that ended it (as `Process` reports them); call after it exited.
    public var terminationStatus: Int32 {
        let status = lock.withLock { waitStatus ?? 0 }
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : status & 0x7f
    }

    public var terminationReason: TerminationReason {
        let status = lock.withLock { waitStatus ?? 0 }
        return (status & 0x7f) == 0 ? .exit : .uncaughtSignal
    }

    /// Starts `path` with `arguments` and `environment` (this process's when nil), with `stdin`, `stdout` and `stderr`
    /// (descriptors the caller keeps; -1 for /dev/null) as its standard descriptors and every other descriptor of the
    /// test process closed in it: a server must not keep a test's sockets or files open.
    public static func spawn(
        _ path: String, _ arguments: [String], environment: [String: String]? = nil,
        stdin: Int32 = -1, stdout: Int32 = -1, stderr: Int32 = -1
    ) throws -> ChildProcess {
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { if null >= 0 { close(null) } }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + env).forEach { free($0) } }
        var pid: Int32 = 0
        let rc = airlock_spawn_piped(
            path, argv, env, stdin >= 0 ? stdin : null, stdout >= 0 ? stdout : null, stderr >= 0 ? stderr : null, &pid)
        guard rc == 0 else { throw TestSupportError("cannot run \(path): errno \(-rc)") }
        return ChildProcess(pid: pid, arguments: arguments)
    }

    public func signal(_ number: Int32) {
        if isRunning { kill(processIdentifier, number) }
    }

    /// Blocks until it has exited.
    public func waitUntilExit() {
        while isRunning { usleep(5_000) }
    }
}

/// The `airlock` binary run as a real child process, as operators run it.
public final class AirlockProcess: @unchecked Sendable {
    public let process: ChildProcess
    /// Read ends of the child's standard error and (with `captureOutput`) output; -1 when not captured.
    private let stderrFD: Int32
    private let stdoutFD: Int32

    /// `airlock` next to the running test binary (both are build products), or `$AIRLOCK_BIN`.
    public static var binary: String {
        if let path = ProcessInfo.processInfo.environment["AIRLOCK_BIN"] { return path }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("airlock").path
    }

    public init(_ arguments: [String], environment: [String: String]? = nil, captureOutput: Bool = false) throws {
        var errorPipe: [Int32] = [-1, -1]
        var outputPipe: [Int32] = [-1, -1]
        // Close-on-exec from the start: a child another test spawns meanwhile must not hold the write ends.
        guard airlock_pipe_cloexec(&errorPipe) == 0 else { throw TestSupportError("pipe2: errno \(errno)") }
        if captureOutput, airlock_pipe_cloexec(&outputPipe) != 0 {
            close(errorPipe[0])
            close(errorPipe[1])
            throw TestSupportError("pipe2: errno \(errno)")
        }
        let spawned = Result {
            try ChildProcess.spawn(
                Self.binary, arguments, environment: environment, stdout: captureOutput ? outputPipe[1] : -1,
                stderr: errorPipe[1])
        }
        close(errorPipe[1])
        if captureOutput { close(outputPipe[1]) }
        do {
            process = try spawned.get()
        } catch {
            close(errorPipe[0])
            if captureOutput { close(outputPipe[0]) }
            throw error
        }
        stderrFD = errorPipe[0]
        stdoutFD = captureOutput ? outputPipe[0] : -1
    }

    public var pid: Int32 { process.processIdentifier }

    public func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// Waits up to `seconds` for the process to exit; kills it and fails if it does not.
    public func waitForExit(seconds: Double = 15) async throws -> Int32 {
        let process = self.process
        let exited = await eventually(seconds: seconds) { !process.isRunning }
        guard exited else {
            kill(process.processIdentifier, SIGKILL)
            throw TestSupportError("airlock \(process.arguments?.first ?? "") did not exit within \(seconds)s")
        }
        return process.terminationStatus
    }

    /// What `standardErrorSoFar` has taken from the pipe already.
    private let earlierError = NSLock()
    private var takenError = Data()

    /// Everything the process wrote to stderr (call after it exited).
    public func standardError() -> String {
        let rest = readToEnd(stderrFD)
        return earlierError.withLock { String(decoding: takenError + rest, as: UTF8.self) }
    }

    /// What the process has written to stderr until now, without waiting for it to exit: for the message of a
    /// failed expectation about a process that still runs (a router). `standardError()` still returns all of it.
    public func standardErrorSoFar() -> String {
        earlierError.withLock {
            let fd = stderrFD
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            defer { _ = fcntl(fd, F_SETFL, flags) }
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    takenError.append(contentsOf: buffer[0..<n])
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            return String(decoding: takenError, as: UTF8.self)
        }
    }

    /// Everything the process wrote to stdout, when started with `captureOutput` (call after it exited).
    public func standardOutput() -> String {
        stdoutFD < 0 ? "" : String(decoding: readToEnd(stdoutFD), as: UTF8.self)
    }

    /// Waits until `path` exists (a ready or port file) and returns its contents.
    public func waitForFile(_ path: String, seconds: Double = 20) async throws -> String {
        let process = self.process
        let found = await eventually(seconds: seconds) { FileManager.default.fileExists(atPath: path) || !process.isRunning }
        guard found, let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            throw TestSupportError("\(path) never appeared; airlock said: \(standardError())")
        }
        return text
    }

    /// Runs `airlock` with `arguments` to its end and returns its status and output.
    /// With posix_spawn (`Spawn`), not Foundation's `Process`, whose spawn can crash a test process holding many
    /// descriptors. The status is 128 plus the signal number when a signal ended it.
    public static func runToEnd(_ arguments: [String], seconds: Double = 30) async throws -> (status: Int32, output: String, error: String) {
        let binary = Self.binary
        let environment = ProcessInfo.processInfo.environment
        let result = try await offPool { try Spawn.run(binary, arguments, environment: environment, seconds: seconds) }
        return (result.status, result.output, result.error)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        close(stderrFD)
        if stdoutFD >= 0 { close(stdoutFD) }
    }
}
