import AirlockPolicy
import Logging
import NIOCore
import NIOHTTP1

/// One agent connection: reads each request (bounded in size and time), hands it to the request pipeline
/// as a task, and cancels that task if the agent goes away. The peer's identity was fixed by the kernel
/// before the first byte was read and never changes for the connection's life.
final class HTTPConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    struct Limits {
        var maxBodyBytes: Int
        var maxHeaderBytes: Int
        var headerTimeout: TimeAmount
        var idleTimeout: TimeAmount
        /// Open connections one peer may hold (`router.limits.max_connections_per_peer`).
        var maxConnectionsPerPeer: Int
    }

    private enum State {
        case idle
        case receiving(HTTPRequestHead, ByteBuffer)
        /// The request was refused while its body was still arriving; the rest is dropped, then we close.
        case discarding
        case processing
    }

    private let peer: PeerIdentity
    private let limits: Limits
    private let pipeline: RequestPipeline
    private let tracker: ConnectionTracker
    private var state: State = .idle
    /// When the connection is closed unless something moves it on; `.distantFuture` while a request is served.
    private var deadline = NIODeadline.distantFuture
    /// One timer per connection, never set later than `tick` after it was scheduled, so it can never fire after a
    /// deadline set since (every deadline is at least `tick` away): arming a deadline costs no timer operation.
    private var timer: Scheduled<Void>?
    private var task: Task<Void, Never>?
    private var receivedAtNanos: UInt64 = 0
    private var executor: EventLoopTaskExecutor?
    /// The write of the last response's `.end`: a close must wait for it, or the end would be discarded.
    private var lastEnd: EventLoopFuture<Void>?

    init(peer: PeerIdentity, limits: Limits, pipeline: RequestPipeline, tracker: ConnectionTracker) {
        self.peer = peer
        self.limits = limits
        self.pipeline = pipeline
        self.tracker = tracker
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context: context, limits.idleTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context: context, limits.idleTimeout)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        deadline = .distantFuture
        task?.cancel()
        task = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is FirstByteDetector.FirstByte, case .idle = state {
            arm(context: context, limits.headerTimeout)
            return
        }
        if case ChannelEvent.inputClosed = event {
            // The agent will send nothing more (FIN). A refusal being answered closes the connection itself.
            switch state {
            case .discarding:
                return
            case .processing:
                // The agent left with its request in flight: an SDK's timeout, a client closed during a model's
                // long pause. The request is cancelled now (its upstream exchange with it, freeing its slots and
                // recording the abort), not when a later write fails. HTTP/1.1 clients do not half-close and
                // then wait for an answer; one that did is treated like one that left (as nginx answers 499).
                task?.cancel()
                task = nil
                context.close(promise: nil)
                return
            case .idle, .receiving:
                break
            }
            // Between requests (or during one that can now never end): close once the last response is out.
            if let lastEnd {
                // Completed already in the usual case, and then this closes at once.
                lastEnd.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            } else {
                context.close(promise: nil)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A malformed request (the protocol error handler has already answered 400) or a failed socket: the
        // connection cannot be trusted to frame another request.
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .idle):
            receivedAtNanos = DispatchTimeNanos.now()
            if let refusal = HeadChecks.check(head, limits: limits) {
                refuse(context: context, refusal, head: head)
                return
            }
            arm(context: context, limits.headerTimeout)
            state = .receiving(head, context.channel.allocator.buffer(capacity: 0))
        case (.body(var chunk), .receiving(let head, var body)):
            if body.readableBytes + chunk.readableBytes > limits.maxBodyBytes {
                refuse(context: context, HeadChecks.tooLarge(limits.maxBodyBytes), head: head)
                return
            }
            state = .processing
            body.writeBuffer(&chunk)
            state = .receiving(head, body)
        case (.end, .receiving(let head, let body)):
            deadline = .distantFuture
            state = .processing
            context.triggerUserOutboundEvent(FirstByteDetector.RequestRead(), promise: nil)
            let request = InboundRequest(
                head: head,
                body: body,
                peer: peer,
                receivedAtNanos: receivedAtNanos
            )
            let sink = ResponseSink(channel: context.channel, keepAlive: head.isKeepAlive)
            let pipeline = self.pipeline
            let tracker = self.tracker
            tracker.requestStarted()
            task = Task(executorPreference: executor(context)) {
                await pipeline.handle(request, sink: sink)
                tracker.requestFinished()
            }
        case (_, .discarding):
            break
        default:
            // A part out of order means the decoder and this handler disagree; never guess.
            context.close(promise: nil)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), case .processing = state {
            // Bookkeeping first: writing `.end` lets the request gate deliver a pipelined request re-entrantly,
            // and that request's own state and deadline must not be overwritten afterwards.
            state = .idle
            task = nil
            // Idle until told otherwise: RequestDone reports at once (FirstByte) if the next head already began.
            arm(context: context, limits.idleTimeout)
            context.triggerUserOutboundEvent(FirstByteDetector.RequestDone(), promise: nil)
            let written = promise ?? context.eventLoop.makePromise()
            lastEnd = written.futureResult
            context.write(data, promise: written)
            return
        }
        context.write(data, promise: promise)
    }

    private func refuse(context: ChannelHandlerContext, _ refusal: RouterError, head: HTTPRequestHead) {
        deadline = .distantFuture
        state = .discarding
        let family: APIFamily = head.uri.hasPrefix("/v1/messages") ? .anthropic : .openai
        let sink = ResponseSink(channel: context.channel, keepAlive: false)
        let requestID = RequestIDs.make()
        let pipeline = self.pipeline
        let peer = self.peer
        let uri = head.uri
        let method = head.method.rawValue
        task = Task(executorPreference: executor(context)) {
            let answer = await pipeline.recordEarlyRefusal(refusal, peer: peer, method: method, uri: uri, requestID: requestID)
            await sink.error(answer, family: family, common: .init(requestID: requestID, traceparent: nil))
        }
    }

    private func executor(_ context: ChannelHandlerContext) -> EventLoopTaskExecutor {
        if let executor { return executor }
        let made = EventLoopTaskExecutor(context.eventLoop)
        executor = made
        return made
    }

    private var tick: TimeAmount { min(limits.headerTimeout, limits.idleTimeout) }

    private func arm(context: ChannelHandlerContext, _ timeout: TimeAmount) {
        deadline = .now() + timeout
        if timer == nil {
            schedule(context: context, at: .now() + tick)
        }
    }

    private func schedule(context: ChannelHandlerContext, at when: NIODeadline) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: when) {
            let (handler, context) = bound.value
            handler.timer = nil
            guard context.channel.isActive else { return }
            let now = NIODeadline.now()
            if now >= handler.deadline {
                context.close(promise: nil)
            } else {
                handler.schedule(context: context, at: min(handler.deadline, now + handler.tick))
            }
        }
    }
}

/// Checks on a request head that need no body: smuggling shapes, header size, declared body size.
enum HeadChecks {
    /// `server` names whose limit it is in the message ("router", "witness").
    static func tooLarge(_ limit: Int, server: String = "router") -> RouterError {
        RouterError(
            status: 413,
            reason: "body_too_large",
            message: "The request body is larger than the \(server)'s limit of \(limit) bytes."
        )
    }

    static func check(_ head: HTTPRequestHead, limits: HTTPConnectionHandler.Limits) -> RouterError? {
        // CONNECT (which the parser treats as an upgrade and would leave hanging) and every other method the
        // router does not serve: refused on the head, before any body.
        // DELETE ends an MCP session (Streamable HTTP), so it is served on the MCP gateway's paths only.
        guard head.method == .GET || head.method == .POST || (head.method == .DELETE && head.uri.hasPrefix(MCPGateway.pathPrefix))
        else { return .methodNotAllowed }
        var headerBytes = head.uri.utf8.count
        for (name, value) in head.headers {
            headerBytes += name.utf8.count + value.utf8.count + 4
        }
        if headerBytes > limits.maxHeaderBytes {
            return RouterError(
                status: 431,
                reason: "headers_too_large",
                message: "The request headers are larger than the router's limit of \(limits.maxHeaderBytes) bytes."
            )
        }
        return framing(head, maxBodyBytes: limits.maxBodyBytes)
    }

    /// How the body is framed, and its declared size: every listener that reads a body checks this on the head.
    static func framing(_ head: HTTPRequestHead, maxBodyBytes: Int, server: String = "router") -> RouterError? {
        let lengths = head.headers[canonicalForm: "content-length"]
        let encodings = head.headers[canonicalForm: "transfer-encoding"]
        // Request smuggling shapes (RFC 9112 §6.3): never guess which framing the peer meant.
        if !lengths.isEmpty && !encodings.isEmpty {
            return .badRequest("ambiguous_framing", "The request has both Content-Length and Transfer-Encoding.")
        }
        if lengths.count > 1 {
            return .badRequest("ambiguous_framing", "The request has more than one Content-Length.")
        }
        if !encodings.isEmpty && (encodings.count != 1 || encodings[0].lowercased() != "chunked") {
            return .badRequest("ambiguous_framing", "Only Transfer-Encoding: chunked is accepted.")
        }
        if let length = lengths.first {
            guard let declared = Int(length), declared >= 0 else {
                return .badRequest("ambiguous_framing", "Content-Length is not a number.")
            }
            if declared > maxBodyBytes {
                return tooLarge(maxBodyBytes, server: server)
            }
        }
        return nil
    }
}
