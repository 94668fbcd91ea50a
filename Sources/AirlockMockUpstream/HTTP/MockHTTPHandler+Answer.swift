import NIOCore
import NIOHTTP1

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension MockHTTPHandler {
    /// How long a reset fault waits after flushing its bytes, so the client has read the head before the RST.
    static let resetGrace = TimeAmount.milliseconds(20)

    func execute(_ plan: ResponsePlan, context: ChannelHandlerContext) {
        var plan = plan
        self.requestID = plan.requestID
        if !self.keepAlive {
            plan.headers.replaceOrAdd(name: "connection", value: "close")
        } else if self.version == .http1_0 {
            plan.headers.replaceOrAdd(name: "connection", value: "keep-alive")
        }
        if plan.hang {
            return
        }
        if plan.delayBeforeHeaders > .zero {
            self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: plan.delayBeforeHeaders) {
                self.timer = nil
                self.sendHead(plan, context: context)
            }
        } else {
            self.sendHead(plan, context: context)
        }
    }

    private func sendHead(_ plan: ResponsePlan, context: ChannelHandlerContext) {
        guard case .answering = self.phase else { return }
        let head = HTTPResponseHead(version: self.version, status: plan.status, headers: plan.headers)
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        switch plan.body {
        case .full(let buffer):
            guard let limit = plan.resetAfterBytes else {
                context.write(self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
                self.finish(context: context)
                return
            }
            let slice = buffer.getSlice(at: buffer.readerIndex, length: min(limit, buffer.readableBytes)) ?? buffer
            context.write(self.wrapOutboundOut(.body(.byteBuffer(slice))), promise: nil)
            self.resetConnection(context: context)
        case .stream(let source):
            self.stream = ActiveStream(source: source, chunkDelay: plan.chunkDelay, resetBudget: plan.resetAfterBytes)
            context.flush()
            self.pump(context: context)
        }
    }

    /// Ends the response; the request is complete from here on, so a later disconnect is not a cancellation.
    func finish(context: ChannelHandlerContext) {
        self.requestID = nil
        self.stream = nil
        // Set before writing `.end`: the pipeline handler may deliver a pipelined request re-entrantly.
        self.phase = .idle
        if self.keepAlive {
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            context.writeAndFlush(self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }

    /// Flushes what was written, then closes with SO_LINGER 0 so the kernel sends RST instead of FIN.
    func resetConnection(context: ChannelHandlerContext) {
        self.requestID = nil
        self.stream = nil
        self.phase = .closed
        context.flush()
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.resetGrace) {
            guard let provider = context.channel as? any SocketOptionProvider else {
                context.close(promise: nil)
                return
            }
            provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }
}
