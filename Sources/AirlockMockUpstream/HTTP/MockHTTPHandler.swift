import NIOCore
import NIOHTTP1

/// One connection's request/response cycle. Collects a request, asks the responder for a plan, and carries the plan
/// out on the event loop: delays, body or stream, reset, hang. Everything runs on the channel's event loop; no locks
/// are held across I/O.
final class MockHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    enum Phase {
        case idle
        case receiving(HTTPRequestHead, ByteBuffer?, tooLarge: Bool)
        case answering
        case closed
    }

    struct ActiveStream {
        var source: any SSEEventSource
        var chunkDelay: TimeAmount
        var resetBudget: Int?
        var waitingForTimer = false
    }

    let state: MockUpstreamState
    var phase: Phase = .idle
    /// The recorded request being answered; cleared once the answer is complete, so a disconnect while it is set
    /// is a cancellation.
    var requestID: Int?
    var keepAlive = true
    var version = HTTPVersion.http1_1
    var stream: ActiveStream?
    var timer: Scheduled<Void>?

    init(state: MockUpstreamState) {
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.phase = .receiving(head, nil, tooLarge: false)
            if head.headers.first(name: "expect")?.lowercased() == "100-continue" {
                // curl sends larger bodies only after an interim 100 (RFC 9110 §10.1.1), or after a 1 s wait.
                let interim = HTTPResponseHead(version: head.version, status: .continue)
                context.writeAndFlush(self.wrapOutboundOut(.head(interim)), promise: nil)
            }
        case .body(var part):
            guard case .receiving(let head, let existing, let tooLarge) = self.phase, !tooLarge else { return }
            // Drop the enum's reference first so appending does not copy the buffer.
            self.phase = .answering
            let size = (existing?.readableBytes ?? 0) + part.readableBytes
            if size > self.state.configuration.maxBodyBytes {
                self.phase = .receiving(head, nil, tooLarge: true)
                return
            }
            guard var body = existing else {
                self.phase = .receiving(head, part, tooLarge: false)
                return
            }
            body.writeBuffer(&part)
            self.phase = .receiving(head, body, tooLarge: false)
        case .end:
            guard case .receiving(let head, let body, let tooLarge) = self.phase else { return }
            self.phase = .answering
            let plan: ResponsePlan
            if head.uri.hasPrefix(ControlEndpoints.prefix) {
                plan = ControlEndpoints.plan(head: head, body: body, state: self.state)
            } else {
                plan = MockResponder(state: self.state).plan(head: head, body: body, bodyTooLarge: tooLarge)
            }
            self.keepAlive = head.isKeepAlive
            self.version = head.version
            self.execute(plan, context: context)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            self.pump(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let id = self.requestID {
            self.state.markCancelled(id: id)
        }
        self.requestID = nil
        self.timer?.cancel()
        self.timer = nil
        self.stream = nil
        self.phase = .closed
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
