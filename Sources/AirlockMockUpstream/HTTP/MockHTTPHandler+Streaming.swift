import NIOCore
import NIOHTTP1

extension MockHTTPHandler {
    /// Writes stream events while the channel is writable; resumes from `channelWritabilityChanged` or the chunk
    /// timer. At most one event is produced ahead of the socket, so a slow reader never makes the mock buffer.
    func pump(context: ChannelHandlerContext) {
        while var active = self.stream, !active.waitingForTimer, context.channel.isWritable {
            // Take the stream out while mutating it so its existential box is not copied.
            self.stream = nil
            guard let event = active.source.next() else {
                self.finish(context: context)
                return
            }
            let buffer = context.channel.allocator.buffer(string: event)
            if let budget = active.resetBudget {
                if buffer.readableBytes >= budget {
                    let slice = buffer.getSlice(at: buffer.readerIndex, length: budget) ?? buffer
                    context.write(self.wrapOutboundOut(.body(.byteBuffer(slice))), promise: nil)
                    self.resetConnection(context: context)
                    return
                }
                active.resetBudget = budget - buffer.readableBytes
            }
            context.writeAndFlush(self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            if active.chunkDelay > .zero {
                active.waitingForTimer = true
                self.stream = active
                self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: active.chunkDelay) {
                    self.timer = nil
                    self.stream?.waitingForTimer = false
                    self.pump(context: context)
                }
                return
            }
            self.stream = active
        }
    }
}
