import AirlockPolicy
import AirlockReceipts
import NIOCore
import NIOHTTP1
import NIOPosix

/// Serves a ``Witness`` over HTTP/1.1 on a loopback address: `POST /add-checkpoint` (c2sp.org/tlog-witness).
/// Another host reaches it only through something the operator puts in front (a bastion, a reverse proxy).
public final class WitnessServer: Sendable {
    /// Listener settings.
    public struct Configuration: Sendable {
        /// A loopback address literal (127.0.0.0/8 or ::1).
        public var host = "127.0.0.1"
        /// The port; 0 picks a free one.
        public var port = 0
        /// The largest request body: 63 proof lines and a checkpoint with many signatures fit in far less.
        public var maxBodyBytes = 64 * 1024
        /// A request must be complete this long after its first byte.
        public var headerTimeout = TimeAmount.seconds(10)
        /// A connection with no request under way is closed after this long.
        public var idleTimeout = TimeAmount.seconds(60)

        public init() {}
    }

    private let channel: any Channel
    /// The bound port.
    public let port: Int

    private init(channel: any Channel, port: Int) {
        self.channel = channel
        self.port = port
    }

    /// Binds and starts serving. `report` receives one line per refused rollback or fork.
    public static func start(
        witness: Witness,
        configuration: Configuration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        report: @escaping @Sendable (String) -> Void
    ) async throws -> WitnessServer {
        guard let address = IPAddress.parse(configuration.host), address.connectedAddress == address,
            address.isLoopbackDestination
        else {
            throw WitnessServerError(
                "refusing to listen on '\(configuration.host)': the witness listens only on a loopback address (127.0.0.1 or ::1); put a proxy in front to reach it from elsewhere"
            )
        }
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.configureTimedHTTPServerPipeline(pipelining: true, errorHandling: true)
                    try sync.addHandler(
                        WitnessHTTPHandler(witness: witness, configuration: configuration, report: report))
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
        guard let port = channel.localAddress?.port else {
            try? await channel.close()
            throw WitnessServerError("the bound socket has no port")
        }
        return WitnessServer(channel: channel, port: port)
    }

    /// Stops listening.
    public func shutdown() async {
        try? await channel.close()
    }

    /// Completes when the listener closes.
    public func closed() async {
        try? await channel.closeFuture.get()
    }
}

/// Why the witness server cannot start.
public struct WitnessServerError: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = "airlock witness: " + description
    }
}

/// One witness connection: each request is read whole (bounded in size and time), answered, and the next is read.
final class WitnessHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        case receiving(HTTPRequestHead, ByteBuffer)
        case answering
        /// A refused request whose body is still arriving: it is dropped, and the connection closes after the answer.
        case discarding
    }

    private let witness: Witness
    private let configuration: WitnessServer.Configuration
    private let report: @Sendable (String) -> Void
    private var state = State.idle
    private var timer: Scheduled<Void>?

    init(witness: Witness, configuration: WitnessServer.Configuration, report: @escaping @Sendable (String) -> Void) {
        self.witness = witness
        self.configuration = configuration
        self.report = report
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, configuration.idleTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, configuration.idleTimeout)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is FirstByteDetector.FirstByte {
            if case .idle = state { arm(context, configuration.headerTimeout) }
            return
        }
        if case ChannelEvent.inputClosed = event {
            if case .answering = state { return }
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .idle):
            let path = head.uri.split(separator: "?", maxSplits: 1).first ?? ""
            guard path == "/add-checkpoint" else {
                refuse(context, 404, "the witness serves POST /add-checkpoint only")
                return
            }
            guard head.method == .POST else {
                refuse(context, 405, "add-checkpoint takes POST")
                return
            }
            if let refusal = HeadChecks.framing(head, maxBodyBytes: configuration.maxBodyBytes, server: "witness") {
                refuse(context, refusal.status, refusal.message)
                return
            }
            state = .receiving(head, context.channel.allocator.buffer(capacity: 0))
        case (.body(var chunk), .receiving(let head, var body)):
            guard body.readableBytes + chunk.readableBytes <= configuration.maxBodyBytes else {
                refuse(context, 413, HeadChecks.tooLarge(configuration.maxBodyBytes, server: "witness").message)
                return
            }
            state = .answering
            body.writeBuffer(&chunk)
            state = .receiving(head, body)
        case (.end, .receiving(let head, let body)):
            state = .answering
            timer?.cancel()
            timer = nil
            context.triggerUserOutboundEvent(FirstByteDetector.RequestRead(), promise: nil)
            answer(context, head: head, body: Array(body.readableBytesView))
        case (_, .discarding):
            break
        default:
            // A part out of order (the decoder's error handling answers malformed framing itself).
            context.close(promise: nil)
        }
    }

    /// Runs the witness on the blocking-I/O thread pool (it writes and fsyncs its state), neither on the event loop
    /// nor on Swift's cooperative pool, and writes its answer back on the loop.
    private func answer(_ context: ChannelHandlerContext, head: HTTPRequestHead, body: [UInt8]) {
        let witness = self.witness
        let report = self.report
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        NIOThreadPool.singleton.runIfActive(eventLoop: context.eventLoop) {
            let answer = witness.addCheckpoint(body)
            if let alarm = answer.alarm { report(alarm) }
            return answer
        }.whenComplete { result in
            let (handler, context) = bound.value
            guard context.channel.isActive else { return }
            switch result {
            case .success(let answer):
                handler.write(
                    context, status: answer.status, type: answer.contentType, body: answer.body,
                    keepAlive: head.isKeepAlive)
            case .failure:
                handler.refuse(context, 503, "the witness is shutting down; retry")
            }
        }
    }

    private func refuse(_ context: ChannelHandlerContext, _ status: Int, _ message: String) {
        state = .discarding
        write(context, status: status, type: "text/plain; charset=utf-8", body: message + "\n", keepAlive: false)
    }

    private func write(_ context: ChannelHandlerContext, status: Int, type: String, body: String, keepAlive: Bool) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: type)
        headers.add(name: "content-length", value: String(body.utf8.count))
        if !keepAlive { headers.add(name: "connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
        guard keepAlive else { return }
        state = .idle
        context.triggerUserOutboundEvent(FirstByteDetector.RequestDone(), promise: nil)
        arm(context, configuration.idleTimeout)
    }

    private func arm(_ context: ChannelHandlerContext, _ timeout: TimeAmount) {
        timer?.cancel()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }
}
