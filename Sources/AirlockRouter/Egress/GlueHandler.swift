import NIOCore

/// Relays bytes between two channels on the same event loop, with backpressure: a side is read only while
/// the other side can take writes. Counts bytes read from its own channel.
final class GlueHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private let onBytes: (Int) -> Void
    /// Called when this side's peer will send nothing more (FIN).
    private let onFinished: () -> Void

    init(onBytes: @escaping (Int) -> Void, onFinished: @escaping () -> Void = {}) {
        self.onBytes = onBytes
        self.onFinished = onFinished
    }

    /// Two handlers that relay to each other.
    static func pair(
        upCounter: @escaping (Int) -> Void,
        downCounter: @escaping (Int) -> Void,
        clientFinished: @escaping () -> Void
    ) -> (client: GlueHandler, origin: GlueHandler) {
        let client = GlueHandler(onBytes: upCounter, onFinished: clientFinished)
        let origin = GlueHandler(onBytes: downCounter)
        client.partner = origin
        origin.partner = client
        return (client, origin)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    private func partnerWrite(_ data: NIOAny) {
        context?.write(data, promise: nil)
    }

    private func partnerFlush() {
        context?.flush()
    }

    private func partnerClose() {
        context?.close(promise: nil)
    }

    /// Passes a half-close on: this side's channel sends its FIN (or closes, if it cannot half-close).
    private func partnerShutdownOutput() {
        guard let context else { return }
        let channel = context.channel
        context.close(mode: .output).whenFailure { _ in channel.close(promise: nil) }
    }

    private var partnerWritable: Bool {
        context?.channel.isWritable ?? false
    }

    private func partnerBecameWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        onBytes(unwrapInboundIn(data).readableBytes)
        partner?.partnerWrite(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.partnerFlush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.partnerClose()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        if case ChannelEvent.inputClosed = event {
            // The peer on this side finished sending: the other side's peer is told the same way.
            partner?.partnerShutdownOutput()
            onFinished()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            partner?.partnerBecameWritable()
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if partner?.partnerWritable ?? false {
            context.read()
        } else {
            pendingRead = true
        }
    }
}
