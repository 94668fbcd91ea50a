import Dispatch
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

/// Runs programs with Foundation's `Process`, with a hard deadline.
public struct ProcessRunner: CommandRunning {
    /// Creates a runner.
    public init() {}

    public func run(
        _ executable: String,
        _ arguments: [String],
        input: String?,
        timeout: Duration
    ) async throws -> CommandResult {
        // Process and pipe reads block. They get threads of their own: on a 2-core machine Dispatch's global
        // pool (and certainly Swift's cooperative pool) can be too narrow, and a blocked reader would starve
        // the stdin writer until the pool grows, which costs seconds.
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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let stdinPipe = Pipe()
        let stdoutPipe = Pipe()
        let stderrPipe = Pipe()
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let deadline = DispatchTime.now() + seconds
        try process.run()
        // Our copies of the child's pipe ends must go, or the readers never see end-of-file.
        try? stdoutPipe.fileHandleForWriting.close()
        try? stderrPipe.fileHandleForWriting.close()
        try? stdinPipe.fileHandleForReading.close()

        // Drain both pipes concurrently so a chatty child cannot block on a full pipe while we wait.
        let collected = Collected()
        let readers = DispatchGroup()
        for (pipe, isOut) in [(stdoutPipe, true), (stderrPipe, false)] {
            // The reader owns a descriptor of its own: the Pipe closes its copy when it goes, which may be before a
            // reader held up by a grandchild finishes, and a closed number can be reused by anything.
            let fd = dup(pipe.fileHandleForReading.fileDescriptor)
            guard fd >= 0 else { continue }
            readers.enter()
            Thread.detachNewThread {
                collected.set(Self.readToEnd(fd), stdout: isOut)
                close(fd)
                readers.leave()
            }
        }
        Thread.detachNewThread {
            // The throwing write: the other one traps on EPIPE (a child that exits without reading) or EINTR.
            if let input { try? stdinPipe.fileHandleForWriting.write(contentsOf: Data(input.utf8)) }
            try? stdinPipe.fileHandleForWriting.close()
        }

        if exited.wait(timeout: deadline) == .timedOut {
            process.terminate()
            if exited.wait(timeout: .now() + 1) == .timedOut { kill(process.processIdentifier, SIGKILL) }
            _ = readers.wait(timeout: .now() + 1)
            let name = ([executable] + arguments).joined(separator: " ")
            throw EgressGuardError.timedOut(command: name, seconds: seconds)
        }
        // The readers end at end-of-file, which follows the exit at once unless a grandchild holds the pipes: they
        // get what is left of the deadline (at least 2 s), so a loaded machine that is slow to schedule them loses
        // no output, and a grandchild cannot hang us either.
        _ = readers.wait(timeout: max(deadline, .now() + 2))
        let status =
            process.terminationReason == .uncaughtSignal
            ? 128 + process.terminationStatus : process.terminationStatus
        return CommandResult(status: status, stdout: collected.stdout, stderr: collected.stderr)
    }

    /// Reads `fd` to its end with read(2), retrying on EINTR: Foundation's `readDataToEndOfFile()` traps when a
    /// signal interrupts it.
    private static func readToEnd(_ fd: Int32) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                data.append(contentsOf: buffer[0..<n])
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return data
            }
        }
    }
}

/// Output gathered by the reader threads.
private final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()

    func set(_ data: Data, stdout: Bool) {
        lock.withLock { if stdout { out = data } else { err = data } }
    }

    var stdout: String { lock.withLock { String(decoding: out, as: UTF8.self) } }
    var stderr: String { lock.withLock { String(decoding: err, as: UTF8.self) } }
}
