import AirlockPolicy
import AirlockReceipts
import Logging
import NIOCore
import NIOPosix
import NIOHTTP1
import NIOSSL
import NIOTLS

/// One connection to the egress proxy: reads a request head, decides, and either refuses with a short
/// plain-text 4xx/5xx or connects to the exact address it checked and relays bytes. Nothing is relayed
/// before the decision, and no credential is ever added: the proxy does not interpret what it relays.
final class EgressProxyHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let peer: PeerIdentity
    private let proxy: EgressProxy
    private var head: ByteBuffer?
    private var deciding = false
    private var timer: Scheduled<Void>?

    init(peer: PeerIdentity, proxy: EgressProxy) {
        self.peer = peer
        self.proxy = proxy
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: proxy.headTimeout) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !deciding else { return }
        var chunk = unwrapInboundIn(data)
        if head == nil {
            head = chunk
        } else {
            head!.writeBuffer(&chunk)
        }
        guard let buffer = head else { return }
        let bytes = buffer.readableBytesView
        let end = Self.endOfHead(bytes)
        // However the head arrives (in pieces, or whole in one write), it may not be longer than the limit.
        if (end ?? bytes.count) > ProxyRequestHead.maxHeadBytes {
            refuse(context: context, .init(status: 431, reason: "head_too_large", message: "request head larger than \(ProxyRequestHead.maxHeadBytes) bytes"), target: nil)
            return
        }
        guard let end else { return }
        deciding = true
        timer?.cancel()
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        let headBytes = Array(bytes[bytes.startIndex..<(bytes.startIndex + end)])
        let rest = buffer.getSlice(at: buffer.readerIndex + end + 4, length: bytes.count - end - 4) ?? ByteBuffer()
        let parsed: ProxyRequestHead
        do {
            parsed = try ProxyRequestHead.parse(headBytes)
        } catch {
            refuse(context: context, error, target: nil)
            return
        }
        let channel = context.channel
        let proxy = self.proxy
        let peer = self.peer
        let executor = EventLoopTaskExecutor(context.eventLoop)
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        Task(executorPreference: executor) {
            let outcome = await proxy.open(parsed, peer: peer, eventLoop: channel.eventLoop)
            switch outcome {
            case .refused(let refusal):
                handler.value.refuse(context: loopContext.value, refusal, target: parsed.target)
            case .connected(let origin, let tunnel):
                handler.value.splice(context: loopContext.value, origin: origin, tunnel: tunnel, head: parsed, rest: rest)
            }
        }
    }

    private func splice(context: ChannelHandlerContext, origin: any Channel, tunnel: EgressProxy.Tunnel, head: ProxyRequestHead, rest: ByteBuffer) {
        let client = context.channel
        let proxy = self.proxy
        if head.form == .connect, case .name(let host) = head.target.host {
            let plan: InspectPlan?
            do {
                plan = try proxy.inspection(sandbox: tunnel.sandbox, target: head.target)
            } catch {
                origin.close(promise: nil)
                proxy.finish(tunnel)
                refuse(context: context, .init(status: 502, reason: "inspection_unavailable", message: "cannot inspect \(head.target): \(error)"), target: head.target)
                return
            }
            if let plan {
                inspect(context: context, origin: origin, tunnel: tunnel, plan: plan, host: host, rest: rest)
                return
            }
        }
        let (clientGlue, originGlue) = GlueHandler.pair(
            upCounter: { tunnel.bytesUp += $0 },
            downCounter: { tunnel.bytesDown += $0 },
            // The agent has finished (FIN): the tunnel no longer counts against its cap, although the origin's
            // answer may still be on its way back.
            clientFinished: { proxy.release(tunnel) }
        )
        do {
            try origin.pipeline.syncOperations.addHandlers([IdleStateHandler(allTimeout: proxy.idleTimeout(tunnel.sandbox)), originGlue])
            try client.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: proxy.idleTimeout(tunnel.sandbox)), position: .before(self))
        } catch {
            origin.close(promise: nil)
            client.close(promise: nil)
            return
        }
        switch head.form {
        case .connect:
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 Connection established\r\n\r\n")), promise: nil)
            if rest.readableBytes > 0 {
                tunnel.bytesUp += rest.readableBytes
                origin.writeAndFlush(rest, promise: nil)
            }
        case .forward:
            var request = ByteBuffer(bytes: head.originHead())
            var body = rest
            request.writeBuffer(&body)
            tunnel.bytesUp += request.readableBytes
            origin.writeAndFlush(request, promise: nil)
        }
        Self.bound(client: client, origin: origin, tunnel: tunnel, proxy: proxy)
        do {
            try context.pipeline.syncOperations.addHandler(clientGlue, position: .after(self))
        } catch {
            origin.close(promise: nil)
            client.close(promise: nil)
            return
        }
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
        client.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
        client.read()
    }

    /// A CONNECT to an inspected host: 200, then the agent's TLS is terminated here and each request is judged
    /// (``InspectedTunnel``); the origin connection, to the address checked, speaks verified TLS.
    private func inspect(context: ChannelHandlerContext, origin: any Channel, tunnel: EgressProxy.Tunnel, plan: InspectPlan, host: String, rest: ByteBuffer) {
        let client = context.channel
        let proxy = self.proxy
        let session = InspectedTunnel(plan: plan, tunnel: tunnel, proxy: proxy, host: host, limits: proxy.connectionLimits)
        do {
            guard let ca = proxy.ca else {
                throw EgressCA.CAError(description: "the router has no egress CA")
            }
            let server = try ca.serverContext(for: host)
            let originSync = origin.pipeline.syncOperations
            try originSync.addHandler(NIOSSLClientHandler(context: plan.client, serverHostname: host))
            try originSync.addHTTPClientHandlers()
            try originSync.addHandlers([IdleStateHandler(allTimeout: proxy.idleTimeout(tunnel.sandbox)), InspectOriginHandler(session: session)])
            let sync = client.pipeline.syncOperations
            try sync.addHandler(NIOSSLServerHandler(context: server))
            // The leaf offers h2 and http/1.1; a client that names neither gets HTTP/1.1.
            let idle = proxy.idleTimeout(tunnel.sandbox)
            try sync.addHandler(ApplicationProtocolNegotiationHandler { result, channel in
                channel.eventLoop.makeCompletedFuture {
                    if case .negotiated("h2") = result {
                        session.multiplexed = true
                        try InspectedH2Connection(first: session, eventLoop: channel.eventLoop).configure(channel)
                    } else {
                        let sync = channel.pipeline.syncOperations
                        try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                        try sync.addHandlers([IdleStateHandler(allTimeout: idle), InspectAgentHandler(session: session)])
                    }
                }
            })
        } catch {
            origin.close(promise: nil)
            proxy.finish(tunnel)
            refuse(context: context, .init(status: 502, reason: "inspection_unavailable", message: "cannot inspect \(host): \(error)"), target: tunnel.target)
            return
        }
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 Connection established\r\n\r\n")), promise: nil)
        Self.bound(client: client, origin: origin, tunnel: tunnel, proxy: proxy)
        if rest.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(rest)) }
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
        client.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
        client.read()
    }

    /// Closes both sides after the sandbox's `max_lifetime`, and records the tunnel's end once both are closed.
    private static func bound(client: any Channel, origin: any Channel, tunnel: EgressProxy.Tunnel, proxy: EgressProxy) {
        let lifetime = client.eventLoop.scheduleTask(in: proxy.maxLifetime(tunnel.sandbox)) {
            client.close(promise: nil)
            origin.close(promise: nil)
        }
        client.closeFuture.and(origin.closeFuture).whenComplete { _ in
            lifetime.cancel()
            proxy.finish(tunnel)
        }
    }

    fileprivate func refuse(context: ChannelHandlerContext, _ refusal: ProxyRequestHead.Refusal, target: EgressTarget?) {
        timer?.cancel()
        deciding = true
        let reasons = [400: "Bad Request", 403: "Forbidden", 429: "Too Many Requests", 431: "Request Header Fields Too Large", 502: "Bad Gateway", 503: "Service Unavailable"]
        let body = "airlock egress: \(refusal.message)\n"
        let response = "HTTP/1.1 \(refusal.status) \(reasons[refusal.status] ?? "Error")\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: \(body.utf8.count)\r\nx-airlock-reason: \(refusal.reason)\r\nconnection: close\r\n\r\n\(body)"
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response))).whenComplete { _ in
            channel.close(promise: nil)
        }
        if target == nil {
            proxy.recordRefusal(refusal, peer: peer, target: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        context.fireChannelInactive()
    }

    static func endOfHead(_ bytes: ByteBufferView) -> Int? {
        var index = bytes.startIndex
        var offset = 0
        var matched = 0
        let pattern: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A]
        while index < bytes.endIndex {
            if bytes[index] == pattern[matched] {
                matched += 1
                if matched == 4 { return offset - 3 }
            } else {
                matched = bytes[index] == pattern[0] ? 1 : 0
            }
            index = bytes.index(after: index)
            offset += 1
        }
        return nil
    }
}
