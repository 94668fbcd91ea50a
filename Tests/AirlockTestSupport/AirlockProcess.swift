#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The `airlock` binary run as a real child process, as operators run it.
public final class AirlockProcess: @unchecked Sendable {
    public let process = Process()
    private let stderrPipe = Pipe()
    private let stdoutPipe = Pipe()

    /// `airlock` next to the running test binary (both are build products), or `$AIRLOCK_BIN`.
    public static var binary: String {
        if let path = ProcessInfo.processInfo.environment["AIRLOCK_BIN"] { return path }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("airlock").path
    }

    public init(_ arguments: [String], environment: [String: String]? = nil, captureOutput: Bool = false) throws {
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = captureOutput ? stdoutPipe : FileHandle.nullDevice
        process.standardError = stderrPipe
        try process.run()
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
        let rest = readToEnd(stderrPipe.fileHandleForReading)
        return earlierError.withLock { String(decoding: takenError + rest, as: UTF8.self) }
    }

    /// What the process has written to stderr until now, without waiting for it to exit: for the message of a
    /// failed expectation about a process that still runs (a router). `standardError()` still returns all of it.
    public func standardErrorSoFar() -> String {
        earlierError.withLock {
            let fd = stderrPipe.fileHandleForReading.fileDescriptor
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
        String(decoding: readToEnd(stdoutPipe.fileHandleForReading), as: UTF8.self)
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
    }
}
