import NIOCore
import NIOHTTP1

/// Sits in front of the HTTP decoder and reports the first byte of each request, so the connection handler
/// can switch from the idle timeout to the (shorter) header timeout: a peer that trickles a request head
/// is cut off after `header_timeout`, not after `idle_timeout`.
///
/// The decoder takes in every byte it is given and says nothing of a head it has only begun (cut inside its
/// method, say), so bytes of the next request that come in the same read as the previous request's end would pass
/// unseen. Each read is therefore handed on in two pieces, the second starting at its last byte that is not CR or
/// LF: if ``DecodedPartObserver``, right behind the decoder, saw the last request part of the read (an `.end`)
/// during the first piece, that byte came after it, and a new head has begun. Empty lines between requests (RFC
/// 9112 §2.2) start nothing.
final class FirstByteDetector: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Sent inbound when bytes arrive while no request is being read.
    struct FirstByte {}
    /// Sent outbound by the connection handler when a response is complete.
    struct RequestDone {}
    /// Sent outbound by the connection handler when it has read a request's end: bytes read after this belong to
    /// the next request, even while this one is still being answered.
    struct RequestRead {}

    /// What the decoder emitted, as ``DecodedPartObserver`` saw it.
    let decoded = DecodedParts()
    private var waiting = true
    private var requestRead = false
    /// Bytes of the next request arrived while the previous one was being answered (a pipelined head, perhaps
    /// partial): once that answer is out, the next head is under way and on the header timeout.
    private var nextStarted = false
    /// The decoder holds bytes of a head it has emitted nothing of, read after the last request's end.
    private var partialHead = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if waiting {
            waiting = false
            context.fireUserInboundEventTriggered(FirstByte())
        } else if requestRead {
            nextStarted = true
        }
        var bytes = unwrapInboundIn(data)
        let view = bytes.readableBytesView
        guard let last = view.lastIndex(where: { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }) else {
            // Empty lines only: no head begins here.
            context.fireChannelRead(data)
            return
        }
        decoded.emitted = false
        var endedFirst = false
        var emittedFirst = false
        if last > view.startIndex, let first = bytes.readSlice(length: last - view.startIndex) {
            context.fireChannelRead(wrapInboundOut(first))
            emittedFirst = decoded.emitted
            endedFirst = decoded.emitted && decoded.last == .end
            decoded.emitted = false
        }
        context.fireChannelRead(wrapInboundOut(bytes))
        if decoded.emitted {
            // The read's last significant byte completed a part: a request's end, or one in progress on its own timer.
            partialHead = false
        } else if emittedFirst {
            partialHead = endedFirst
        } else if decoded.last == .end || decoded.last == .none {
            partialHead = true
        }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if event is RequestRead {
            requestRead = true
            promise?.succeed()
            return
        }
        if event is RequestDone {
            requestRead = false
            promise?.succeed()
            if nextStarted || partialHead {
                nextStarted = false
                context.fireUserInboundEventTriggered(FirstByte())
            } else {
                waiting = true
            }
            return
        }
        context.triggerUserOutboundEvent(event, promise: promise)
    }
}

/// The request parts the decoder has emitted, shared by ``FirstByteDetector`` (in front of the decoder) and
/// ``DecodedPartObserver`` (right behind it) on the connection's event loop.
final class DecodedParts {
    enum Part { case none, head, body, end }

    /// The last part emitted on the connection.
    var last = Part.none
    /// A part was emitted since ``FirstByteDetector`` last cleared this.
    var emitted = false
}

/// Notes each request part as the decoder emits it (see ``FirstByteDetector``).
final class DecodedPartObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    private let decoded: DecodedParts

    init(_ decoded: DecodedParts) {
        self.decoded = decoded
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: decoded.last = .head
        case .body: decoded.last = .body
        case .end: decoded.last = .end
        }
        decoded.emitted = true
        context.fireChannelRead(data)
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// NIO's HTTP/1.1 server handlers with ``FirstByteDetector`` in front of them and ``DecodedPartObserver`` right
    /// behind the decoder, where it sees each part as the decoder emits it (before any pipelining handler holds it).
    func configureTimedHTTPServerPipeline(pipelining: Bool, errorHandling: Bool) throws {
        let firstByte = FirstByteDetector()
        try addHandler(firstByte)
        try configureHTTPServerPipeline(withPipeliningAssistance: pipelining, withErrorHandling: errorHandling)
        let decoder = try handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
        try addHandler(DecodedPartObserver(firstByte.decoded), position: .after(decoder))
    }
}
