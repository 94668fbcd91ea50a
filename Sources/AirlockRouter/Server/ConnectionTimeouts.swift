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

    private var waiting = true

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if waiting {
            waiting = false
            context.fireUserInboundEventTriggered(FirstByte())
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if event is RequestDone {
            waiting = true
            promise?.succeed()
            return
        }
        context.triggerUserOutboundEvent(event, promise: promise)
    }
}
