#if canImport(Glibc)
import Glibc
#endif
import AirlockJSON
import AirlockPolicy
import CAirlockLinux
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// How the router launches a local MCP server's processes.
struct StdioLaunch: Sendable, Equatable {
    /// The router's own executable, which has `airlock run`.
    let binary: String
    /// The router's control socket, through which the server's sandbox hands in its listeners.
    let control: String
    let settings: MCPStdioSettings
    /// The worker's UID and GID (the sandbox's first `uids`/`gids`), passed when the router is root at launch
    /// (a router that dropped privileges after start launches as its own user, which `--uid` would refuse).
    let uid: UInt32?
    let gid: UInt32?
    /// `env` of the server with the values read by the router.
    let environment: [String: String]

    /// The launcher's command line for a session whose working directory is `workdir`.
    func argv(workdir: String) -> [String] {
        var out = [binary, "run", "--sandbox", settings.sandbox, "--control", control, "--workdir", workdir]
        if let policy = settings.policy { out += ["--policy", policy] }
        if let uid, let gid, geteuid() == 0 { out += ["--uid", String(uid), "--gid", String(gid)] }
        for name in environment.keys.sorted() { out += ["--pass-env", name] }
        return out + ["--"] + settings.command
    }

    /// The launcher's environment: a search path and the server's variables (which `--pass-env` hands on).
    var launcherEnvironment: [String] {
        ["PATH=/usr/local/bin:/usr/bin:/bin"] + environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    }

    /// The router's own executable.
    static func ownBinary() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return n > 0 ? String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self) : "/usr/bin/airlock"
    }
}

/// A local (stdio) MCP server bridged to Streamable HTTP on 127.0.0.1, on a port the kernel picked, for the
/// router's own relay: the relay reaches it as an ordinary `http://127.0.0.1:PORT/mcp` server whose credential is
/// a random secret only the router knows, so policy, pins and receipts take the one path remote servers take.
/// Another process that reaches the port (a shared network namespace, as in a Kubernetes pod) gets 401.
///
/// Each MCP session is one server process, started by the `initialize` that opens it and ended by DELETE, by
/// `idle_timeout`, by a reload that changes the server, or by the router stopping; a session whose process
/// exited is unknown (404). At most `max_sessions` processes run at once (503 beyond).
final class StdioBridge: Sendable {
    static let path = "/mcp"
    /// Requests of one session waiting for their answers at once; one more is answered 429.
    static let maxPending = 32
    /// Largest request body the bridge reads (the router's own cap on the agent's body comes first).
    static let maxBody = 64 << 20

    let name: String
    let launch: StdioLaunch
    let port: Int
    /// The bearer secret the relay sends (`Authorization: Bearer <secret>`), 256 random bits in hex.
    let secret: String
    private let group: any EventLoopGroup
    private let logger: Logger
    private let sessions = Locked<[String: StdioSession]>([:])
    /// Sessions being started (counted against `max_sessions` before their process exists).
    private let starting = Locked(0)
    private let closed = Locked(false)
    private let server = Locked<(any Channel)?>(nil)
    private let sweeper = Locked<RepeatedTask?>(nil)
    /// The servers' working directory: empty, made (mode 0555) by the router as the user it runs as when the first
    /// session starts (after any privilege drop, so it can remove it again), not writable by a server under another
    /// UID (a server keeps its scratch files in its sandbox's private /tmp): sessions share nothing through it.
    let workdir: String
    private let workdirMade = Locked(false)

    /// Binds the port now (so the relay's URL is known), and serves it once the event loop has it.
    init(name: String, launch: StdioLaunch, group: any EventLoopGroup, logger: Logger) throws {
        self.name = name
        self.launch = launch
        self.group = group
        var logger = logger
        logger[metadataKey: "mcp.server"] = "\(name)"
        self.logger = logger
        var random = SystemRandomNumberGenerator()
        let base = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/tmp"
        workdir = "\(base)/airlock-mcp-\(name)-\(Hex.encode(withUnsafeBytes(of: random.next()) { Array($0) }))"
        secret = (0..<4).map { _ in Hex.encode(withUnsafeBytes(of: random.next()) { Array($0) }) }.joined()
        // In C: which module Swift attributes sockaddr_in to differs between builds of this package (Glibc,
        // CNIOLinux, CoreFoundation), and member import visibility then fails one of them.
        var boundPort: UInt16 = 0
        let fd = airlock_listen_loopback4(128, &boundPort)
        guard fd >= 0 else {
            throw SystemCallError(call: "bind", subject: "MCP bridge \(name) on 127.0.0.1", errno: -fd)
        }
        port = Int(boundPort)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 128)
            .childChannelInitializer { [weak self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    let connection = try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel)
                    Task { await self?.serve(connection) }
                }
            }
        let future = bootstrap.withBoundSocket(fd)
        future.whenSuccess { [server, closed] channel in
            let late = closed.withLock { $0 }
            if late { channel.close(promise: nil) } else { server.withLock { $0 = channel } }
        }
        future.whenFailure { [logger] error in
            logger.error("MCP bridge could not serve its port", metadata: ["error": "\(error)"])
        }
        let idle = launch.settings.idleTimeout.nanoseconds
        let every = TimeAmount.nanoseconds(min(max(idle / 4, 100_000_000), 5_000_000_000))
        sweeper.withLock {
            $0 = group.next().scheduleRepeatedTask(initialDelay: every, delay: every) { [weak self] _ in
                self?.endIdle(after: .nanoseconds(idle))
            }
        }
    }

    /// Ends every session and stops serving.
    func shutdown() async {
        closed.withLock { $0 = true }
        sweeper.withLock { $0?.cancel() }
        try? await server.withLock({ $0 })?.close()
        let all = sessions.withLock { all in
            defer { all.removeAll() }
            return Array(all.values)
        }
        await withTaskGroup(of: Void.self) { group in
            for session in all { group.addTask { await session.end() } }
        }
        if workdirMade.withLock({ $0 }) { rmdir(workdir) }
    }

    /// Ends the sessions idle for `idle` or longer (the sweep calls it every quarter of `idle_timeout`).
    func endIdle(after idle: Duration) {
        let now = ContinuousClock.now
        let idleSessions = sessions.withLock { all in
            let ids = all.filter { $0.value.idleSince(now) >= idle }.map(\.key)
            return ids.compactMap { all.removeValue(forKey: $0) }
        }
        for session in idleSessions {
            logger.info("MCP session idle; its server process ends", metadata: ["mcp.session": "\(session.id.prefix(8))"])
            Task { await session.end() }
        }
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body: [UInt8] = []
            for try await part in inbound {
                switch part {
                case .head(let h):
                    head = h
                    body = []
                case .body(let chunk):
                    guard body.count + chunk.readableBytes <= Self.maxBody else {
                        try await Self.write(outbound, status: .payloadTooLarge, body: "request body too large", keepAlive: false)
                        return
                    }
                    body += chunk.readableBytesView
                case .end:
                    guard let request = head else { return }
                    head = nil
                    try await respond(request, body: body, outbound: outbound)
                    if !request.isKeepAlive { return }
                }
            }
        }
    }

    private func respond(
        _ head: HTTPRequestHead, body: [UInt8], outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    ) async throws {
        let keepAlive = head.isKeepAlive
        func reply(_ status: HTTPResponseStatus, _ text: String, headers: [(String, String)] = []) async throws {
            try await Self.write(outbound, status: status, headers: headers, body: text, keepAlive: keepAlive)
        }
        guard Self.authorized(head.headers, secret: secret) else {
            return try await reply(.unauthorized, "unauthorized")
        }
        guard head.uri == Self.path else { return try await reply(.notFound, "not found") }
        let sessionID = head.headers.first(name: "mcp-session-id")
        switch head.method {
        case .GET:
            // The spec lets a server offer no stream of its own: its messages come on the answers to POSTs.
            return try await reply(.methodNotAllowed, "", headers: [("allow", "POST, DELETE")])
        case .DELETE:
            guard let sessionID, let session = sessions.withLock({ $0.removeValue(forKey: sessionID) }) else {
                return try await reply(.notFound, "no such session")
            }
            await session.end()
            return try await reply(.ok, "")
        case .POST:
            break
        default:
            return try await reply(.methodNotAllowed, "", headers: [("allow", "POST, DELETE")])
        }
        let scanner = JSONScanner(body)
        guard let root = try? scanner.validateDocument(), root.kind == .object else {
            return try await reply(.badRequest, "the body is not one JSON-RPC message")
        }
        let method = scanner.value(of: root, key: "method").flatMap(scanner.string)
        let id = scanner.value(of: root, key: "id").map { Array(body[$0.start..<$0.end]) }
        // Valid JSON holds no raw line break inside a string: a line break outside one is whitespace.
        let line = body.map { $0 == 0x0A || $0 == 0x0D ? UInt8(ascii: " ") : $0 }
        let session: StdioSession
        var opened: String?
        if let sessionID {
            guard let known = sessions.withLock({ $0[sessionID] }) else {
                return try await reply(.notFound, "no such session")
            }
            session = known
        } else {
            guard method == "initialize", id != nil else {
                return try await reply(.badRequest, "no Mcp-Session-Id; a session starts with initialize")
            }
            switch await open() {
            case .success(let new):
                session = new
                opened = new.id
            case .failure(let refusal):
                return try await reply(refusal.status, refusal.text)
            }
        }
        session.touch()
        guard method != nil, let id else {
            // A notification, or the client's answer to a request of the server's.
            do {
                try await session.send(line)
            } catch {
                return try await reply(.notFound, "the session's server process has ended")
            }
            return try await reply(.accepted, "")
        }
        guard let events = session.request(id: id) else {
            return try await reply(.tooManyRequests, "too many requests waiting in this session")
        }
        do {
            try await session.send(line)
        } catch {
            session.cancel(id: id)
            if let opened { sessions.withLock { _ = $0.removeValue(forKey: opened) } }
            return try await reply(.badGateway, "the MCP server process could not be reached")
        }
        var sessionHeader: [(String, String)] = opened.map { [("mcp-session-id", $0)] } ?? []
        var iterator = events.makeAsyncIterator()
        guard let first = await iterator.next() else {
            if let opened { sessions.withLock { _ = $0.removeValue(forKey: opened) } }
            return try await reply(.badGateway, "the MCP server process ended before answering")
        }
        if case .answer(let answer) = first {
            sessionHeader.append(("content-type", "application/json"))
            return try await Self.write(outbound, status: .ok, headers: sessionHeader, bytes: answer, keepAlive: keepAlive)
        }
        // The server speaks first (progress, logging, a request of its own): an event stream, its answer last.
        var headers = HTTPHeaders(sessionHeader)
        headers.add(name: "content-type", value: "text/event-stream")
        headers.add(name: "cache-control", value: "no-cache")
        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)))
        var event: StdioSession.Event? = first
        while let current = event {
            let bytes: [UInt8]
            switch current {
            case .message(let message): bytes = message
            case .answer(let answer): bytes = answer
            }
            var buffer = ByteBuffer()
            buffer.writeString("event: message\ndata: ")
            buffer.writeBytes(bytes)
            buffer.writeString("\n\n")
            try await outbound.write(.body(.byteBuffer(buffer)))
            if case .answer = current { break }
            event = await iterator.next()
        }
        try await outbound.write(.end(nil))
    }

    private struct Refusal: Error {
        let status: HTTPResponseStatus
        let text: String
    }

    /// A new session with its own server process, or why not.
    private func open() async -> Result<StdioSession, Refusal> {
        let max = launch.settings.maxSessions
        let admitted = sessions.withLock { all in
            starting.withLock { pending in
                guard all.count + pending < max else { return false }
                pending += 1
                return true
            }
        }
        guard admitted, !closed.withLock({ $0 }) else {
            logger.warning("MCP server at max_sessions; initialize refused", metadata: ["max_sessions": "\(max)"])
            return .failure(Refusal(status: .serviceUnavailable, text: "the server runs max_sessions (\(max)) sessions"))
        }
        defer { starting.withLock { $0 -= 1 } }
        do {
            try workdirMade.withLock { made in
                guard !made else { return }
                guard mkdir(workdir, 0o555) == 0 || errno == EEXIST else {
                    throw SystemCallError(call: "mkdir", subject: workdir, errno: errno)
                }
                made = true
            }
            let session = try await StdioSession.start(
                launch: launch, workdir: workdir, group: group, logger: logger
            ) {
                [weak self] ended in
                self?.sessions.withLock { all in
                    if all[ended] != nil { all[ended] = nil }
                }
            }
            sessions.withLock { $0[session.id] = session }
            logger.info("MCP server process started", metadata: ["mcp.session": "\(session.id.prefix(8))"])
            return .success(session)
        } catch {
            logger.error("MCP server process could not be started", metadata: ["error": "\(error)"])
            return .failure(Refusal(status: .badGateway, text: "the MCP server process could not be started"))
        }
    }

    /// Whether the request carries the bearer secret (compared in constant time).
    static func authorized(_ headers: HTTPHeaders, secret: String) -> Bool {
        let values = headers["authorization"]
        guard values.count == 1 else { return false }
        let given = Array(values[0].utf8)
        let expected = Array("Bearer \(secret)".utf8)
        guard given.count == expected.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(given, expected) { difference |= a ^ b }
        return difference == 0
    }

    private static func write(
        _ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
        status: HTTPResponseStatus,
        headers: [(String, String)] = [],
        body: String,
        keepAlive: Bool
    ) async throws {
        try await write(outbound, status: status, headers: headers, bytes: Array(body.utf8), keepAlive: keepAlive)
    }

    private static func write(
        _ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
        status: HTTPResponseStatus,
        headers: [(String, String)] = [],
        bytes: [UInt8],
        keepAlive: Bool
    ) async throws {
        var fields = HTTPHeaders(headers)
        if fields["content-type"].isEmpty && !bytes.isEmpty { fields.add(name: "content-type", value: "text/plain") }
        fields.add(name: "content-length", value: String(bytes.count))
        if !keepAlive { fields.add(name: "connection", value: "close") }
        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: status, headers: fields)))
        if !bytes.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: bytes)))) }
        try await outbound.write(.end(nil))
    }
}

/// One MCP session of a local server: its process, and the requests waiting for their answers.
final class StdioSession: Sendable {
    enum Event: Sendable {
        /// A message of the server's (a notification or a request) while a request of the client's waits.
        case message([UInt8])
        /// The answer to the request: the last event.
        case answer([UInt8])
    }

    private struct State {
        /// Request id (its JSON text) → where its events go, in the order the requests came.
        var waiting: [(id: [UInt8], continuation: AsyncStream<Event>.Continuation)] = []
        /// The last request of the client's or answer of the server's.
        var lastUsed = ContinuousClock.now
        var ended = false
    }

    let id: String
    private let process: StdioProcess
    private let state: Locked<State>

    private init(id: String, process: StdioProcess, state: Locked<State>) {
        self.id = id
        self.process = process
        self.state = state
    }

    static func start(
        launch: StdioLaunch, workdir: String, group: any EventLoopGroup, logger: Logger,
        onExit: @escaping @Sendable (String) -> Void
    ) async throws -> StdioSession {
        var random = SystemRandomNumberGenerator()
        let id = (0..<4).map { _ in Hex.encode(withUnsafeBytes(of: random.next()) { Array($0) }) }.joined()
        var sessionLogger = logger
        sessionLogger[metadataKey: "mcp.session"] = "\(id.prefix(8))"
        let state = Locked(State())
        let process: StdioProcess
        do {
            process = try await StdioProcess.start(
                launch.argv(workdir: workdir), environment: launch.launcherEnvironment, group: group,
                logger: sessionLogger
            ) { line in
                Self.deliver(line, state: state)
            }
        }
        let session = StdioSession(id: id, process: process, state: state)
        process.exit.whenComplete { [sessionLogger] _ in
            let waiting = state.withLock { state in
                state.ended = true
                defer { state.waiting.removeAll() }
                return state.waiting
            }
            waiting.forEach { $0.continuation.finish() }
            sessionLogger.info("MCP server process exited")
            onExit(id)
        }
        return session
    }

    /// A line of the server's: the answer to a waiting request, or a message for the newest waiting request.
    private static func deliver(_ line: [UInt8], state: Locked<State>) {
        let scanner = JSONScanner(line)
        guard let root = try? scanner.validateDocument(), root.kind == .object else { return }
        let isMessage = scanner.value(of: root, key: "method") != nil
        let id = scanner.value(of: root, key: "id").map { Array(line[$0.start..<$0.end]) }
        let (target, answer): (AsyncStream<Event>.Continuation?, Bool) = state.withLock { state in
            if !isMessage, let id, let index = state.waiting.firstIndex(where: { $0.id == id }) {
                // An answer is use too: a session whose answer was slow to come is not idle the moment it comes.
                state.lastUsed = .now
                return (state.waiting.remove(at: index).continuation, true)
            }
            // A message no request waits for has no stream to go on (the bridge offers no GET stream).
            return (isMessage ? state.waiting.last?.continuation : nil, false)
        }
        guard let target else { return }
        if answer {
            target.yield(.answer(line))
            target.finish()
        } else {
            target.yield(.message(line))
        }
    }

    /// Time since the last request or answer (a request still waiting counts too: a server that never answers is
    /// ended).
    func idleSince(_ now: ContinuousClock.Instant) -> Duration {
        state.withLock { now - $0.lastUsed }
    }

    func touch() {
        state.withLock { $0.lastUsed = .now }
    }

    /// Where the events of request `id` will come; nil when too many requests wait or the process has ended.
    func request(id: [UInt8]) -> AsyncStream<Event>? {
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let accepted = state.withLock { state in
            guard !state.ended, state.waiting.count < StdioBridge.maxPending else { return false }
            state.waiting.append((id, continuation))
            return true
        }
        if !accepted {
            continuation.finish()
            return nil
        }
        return stream
    }

    func cancel(id: [UInt8]) {
        let removed = state.withLock { state in
            state.waiting.firstIndex { $0.id == id }.map { state.waiting.remove(at: $0) }
        }
        removed?.continuation.finish()
    }

    func send(_ line: [UInt8]) async throws {
        try await process.send(line)
    }

    /// Ends the process (SIGTERM, then SIGKILL) and returns once it has exited.
    func end() async {
        await process.terminate()
    }
}
