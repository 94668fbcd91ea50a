#if canImport(Glibc)
import Glibc
#endif
import CAirlockLinux
import Logging
import NIOCore
import NIOPosix

/// One local MCP server process: `airlock run … -- <command>` started by the router with its standard input and
/// output as pipes (the MCP stdio transport: one JSON-RPC message per line) and its standard error logged.
final class StdioProcess: Sendable {
    /// Longest line read from the server (one JSON-RPC message); a longer one ends the process.
    static let maxLine = 16 << 20
    /// Standard error lines logged per process (each cut to 512 bytes); the rest are counted, not logged.
    static let maxLoggedLines = 200

    let pid: Int32
    private let pipe: any Channel
    private let exited: EventLoopPromise<Void>
    /// Set once the process has exited, before it is reaped: a signal is sent only while this is false, under its
    /// lock, so it can never reach another process that was given the same pid.
    private let gone: Locked<Bool>

    /// The process has exited (its output ended and it was reaped).
    var exit: EventLoopFuture<Void> { exited.futureResult }

    private init(pid: Int32, pipe: any Channel, exited: EventLoopPromise<Void>, gone: Locked<Bool>) {
        self.pid = pid
        self.pipe = pipe
        self.exited = exited
        self.gone = gone
    }

    /// Starts `argv` (`argv[0]` an absolute path) with `environment`; `onLine` gets every line of its output.
    static func start(
        _ argv: [String],
        environment: [String],
        group: any EventLoopGroup,
        logger: Logger,
        onLine: @escaping @Sendable ([UInt8]) -> Void
    ) async throws -> StdioProcess {
        var input: [Int32] = [-1, -1]
        var output: [Int32] = [-1, -1]
        var errors: [Int32] = [-1, -1]
        func closeAll() {
            for fd in input + output + errors where fd >= 0 { close(fd) }
        }
        let made = [airlock_pipe_cloexec(&input), airlock_pipe_cloexec(&output), airlock_pipe_cloexec(&errors)]
        if let failed = made.first(where: { $0 != 0 }) {
            let code = -failed
            closeAll()
            throw SystemCallError(call: "pipe2", subject: "MCP server", errno: code)
        }
        var pid: Int32 = 0
        let args = argv.map { strdup($0) } + [nil]
        let env = environment.map { strdup($0) } + [nil]
        let rc = airlock_spawn_piped(argv[0], args, env, input[0], output[1], errors[1], &pid)
        (args + env).forEach { free($0) }
        // The child holds its ends now (or never will).
        close(input[0])
        close(output[1])
        close(errors[1])
        guard rc == 0 else {
            close(input[1])
            close(output[0])
            close(errors[0])
            throw SystemCallError(call: "posix_spawn", subject: argv[0], errno: -rc)
        }
        let exited = group.next().makePromise(of: Void.self)
        let child = pid
        let gone = Locked(false)
        let reap: @Sendable () -> Void = {
            // Output ended: the launcher (and so the sandbox) is gone or going. Waited for off the event loop, and
            // marked gone while still a zombie (its pid not yet free for reuse), then reaped.
            NIOThreadPool.singleton.runIfActive(eventLoop: exited.futureResult.eventLoop) {
                var info = siginfo_t()
                while waitid(P_PID, id_t(child), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
                gone.withLock { $0 = true }
                var status: Int32 = 0
                while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            }.whenComplete { _ in exited.succeed(()) }
        }
        let stdout: any Channel
        do {
            stdout = try await NIOPipeBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            LineSplitter(maxLine: maxLine, onLine: onLine, onEnd: reap))
                    }
                }
                .takingOwnershipOfDescriptors(input: output[0], output: input[1])
                .get()
        } catch {
            close(output[0])
            close(input[1])
            close(errors[0])
            _ = kill(child, SIGKILL)
            reap()
            throw error
        }
        var serverLogger = logger
        serverLogger[metadataKey: "mcp.server.pid"] = "\(pid)"
        let logged = Locked(0)
        let log = serverLogger
        _ = try? await NIOPipeBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        LineSplitter(
                            maxLine: 64 << 10,
                            onLine: { line in
                                let n = logged.withLock { $0 += 1; return $0 }
                                if n <= maxLoggedLines {
                                    log.info(
                                        "MCP server stderr",
                                        metadata: ["line": "\(String(decoding: line.prefix(512), as: UTF8.self))"])
                                } else if n == maxLoggedLines + 1 {
                                    log.info("MCP server stderr: further lines not logged")
                                }
                            }, onEnd: {}))
                }
            }
            .takingOwnershipOfDescriptor(input: errors[0])
            .get()
        return StdioProcess(pid: child, pipe: stdout, exited: exited, gone: gone)
    }

    /// Sends `number` to the launcher (which passes it on to the server) unless it has exited.
    private func signal(_ number: Int32) {
        gone.withLock { gone in
            if !gone { _ = kill(pid, number) }
        }
    }

    /// Writes one message, as one line (`line` holds no newline).
    func send(_ line: [UInt8]) async throws {
        var buffer = pipe.allocator.buffer(capacity: line.count + 1)
        buffer.writeBytes(line)
        buffer.writeInteger(UInt8(ascii: "\n"))
        try await pipe.writeAndFlush(buffer)
    }

    /// SIGTERM (the launcher passes it to the server), SIGKILL after `grace`; returns once the process is reaped.
    func terminate(grace: TimeAmount = .seconds(3)) async {
        signal(SIGTERM)
        let loop = exited.futureResult.eventLoop
        let timer = loop.scheduleTask(in: grace) { [self] in signal(SIGKILL) }
        // Closing the pipes ends a server that waits for input, and stops reading from one that will not stop.
        pipe.close(mode: .output, promise: nil)
        try? await exit.get()
        timer.cancel()
        pipe.close(promise: nil)
    }
}

/// Splits a byte stream into lines (without the newline), each at most `maxLine` bytes; a longer one closes the
/// channel. `onEnd` runs once when the stream ends.
final class LineSplitter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let maxLine: Int
    private let onLine: @Sendable ([UInt8]) -> Void
    private let onEnd: @Sendable () -> Void
    private var pending: [UInt8] = []
    private var ended = false

    init(maxLine: Int, onLine: @escaping @Sendable ([UInt8]) -> Void, onEnd: @escaping @Sendable () -> Void) {
        self.maxLine = maxLine
        self.onLine = onLine
        self.onEnd = onEnd
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { bytes in
            var start = 0
            for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") {
                pending.append(contentsOf: bytes[start..<index])
                start = index + 1
                var line = pending
                pending.removeAll(keepingCapacity: true)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                if !line.isEmpty && line.count <= maxLine { onLine(line) }
            }
            pending.append(contentsOf: bytes[start...])
        }
        if pending.count > maxLine {
            pending = []
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !ended {
            ended = true
            onEnd()
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
