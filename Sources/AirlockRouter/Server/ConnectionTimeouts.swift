import NIOCore

/// Sits in front of the HTTP decoder and reports the first byte of each request, so the connection handler
/// can switch from the idle timeout to the (shorter) header timeout: a peer that trickles a request head
/// is cut off after `header_timeout`, not after `idle_timeout`.
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

    private var waiting = true
    private var requestRead = false
    /// Bytes of the next request arrived while the previous one was being answered (a pipelined head, perhaps
    /// partial): once that answer is out, the next head is under way and on the header timeout.
    private var nextStarted = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if waiting {
            waiting = false
            context.fireUserInboundEventTriggered(FirstByte())
        } else if requestRead {
            nextStarted = true
        }
        context.fireChannelRead(data)
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
            if nextStarted {
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
