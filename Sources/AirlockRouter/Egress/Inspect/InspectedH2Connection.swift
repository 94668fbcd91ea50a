import AirlockPolicy
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL

/// An agent's HTTP/2 connection to an inspected host (ALPN `h2`). Each stream is one request, read through
/// NIOHTTP2's validation (RFC 9113 §8.2: no CR, LF or NUL in any field, no connection-specific fields, content
/// length checked against the data) and its HTTP/1 codec, then judged and forwarded by an ``InspectedTunnel`` as
/// an HTTP/1.1 request. A stream takes a session whose origin connection is idle, or a new session with its own
/// verified TLS connection to the address the CONNECT checked. At most `maxStreams` sessions (so origin
/// connections) exist at once, whatever the agent does: a stream that finds none free and the pool full waits for
/// the next one to come free, so streams the agent opens and resets at once cannot multiply origin connections.
///
/// Every member is touched on the agent connection's event loop, which is also every origin connection's.
final class InspectedH2Connection: @unchecked Sendable {
    /// SETTINGS_MAX_CONCURRENT_STREAMS sent to the agent, and the bound on origin connections per inspected tunnel.
    static let maxStreams = 16

    let plan: InspectPlan
    let tunnel: EgressProxy.Tunnel
    let proxy: EgressProxy
    let host: String
    let eventLoop: any EventLoop
    private var sessions: [InspectedTunnel]
    /// Streams waiting for a session, oldest first.
    private var waiting: [EventLoopPromise<InspectedTunnel>] = []
    private var closed = false

    /// `first` is the session whose origin connection the CONNECT opened.
    init(first: InspectedTunnel, eventLoop: any EventLoop) {
        self.plan = first.plan
        self.tunnel = first.tunnel
        self.proxy = first.proxy
        self.host = first.host
        self.eventLoop = eventLoop
        self.sessions = [first]
        first.origin?.channel.closeFuture.whenComplete { [self] _ in sessionFreed() }
    }

    /// Adds NIOHTTP2 to the agent's channel (after its TLS handler), each stream served by a session.
    func configure(_ channel: any Channel) throws {
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: Self.maxStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: proxy.connectionLimits.maxHeaderBytes),
        ]
        connection.headerBlockValidation = .enabled
        connection.contentLengthValidation = .enabled
        let sync = channel.pipeline.syncOperations
        try sync.addHandlers([
            IdleStateHandler(allTimeout: proxy.idleTimeout(tunnel.sandbox)),
            InspectH2ConnectionHandler(connection: self),
        ])
        _ = try sync.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: connection, streamConfiguration: .init()
        ) { [self] stream in
            self.session().flatMapThrowing { session in
                func giveBack() {
                    session.streamEnded()
                    self.sessionFreed()
                }
                do {
                    try stream.pipeline.syncOperations.addHandlers([
                        HTTP2FramePayloadToHTTP1ServerCodec(),
                        InspectAgentHandler(session: session),
                    ])
                } catch {
                    // Reset by the agent while it waited for its session.
                    giveBack()
                    throw error
                }
                // However the stream ends (answered, refused, reset by the agent), the session is given back.
                stream.closeFuture.whenComplete { _ in giveBack() }
            }
        }
    }

    /// A session for a new stream, marked in use: an idle one, a new one while the pool has room, or the next one to
    /// come free.
    private func session() -> EventLoopFuture<InspectedTunnel> {
        if let session = take() { return session }
        let promise = eventLoop.makePromise(of: InspectedTunnel.self)
        waiting.append(promise)
        return promise.futureResult
    }

    /// An idle session, or a new one once its origin connection is open; nil when the pool is full.
    private func take() -> EventLoopFuture<InspectedTunnel>? {
        guard !closed else { return nil }
        sessions.removeAll { !$0.originOpen && !$0.inUse }
        if let idle = sessions.first(where: { $0.available }) {
            idle.inUse = true
            return eventLoop.makeSucceededFuture(idle)
        }
        guard sessions.count < Self.maxStreams else { return nil }
        return open()
    }

    /// A session may have come free (its stream ended, its origin connection closed): the oldest waiting stream
    /// gets it.
    private func sessionFreed() {
        while !waiting.isEmpty, let session = take() {
            session.cascade(to: waiting.removeFirst())
        }
    }

    /// A new session, in use, once its origin connection is open (or has failed: its first request gets a 502
    /// naming why). The stream's head waits for it.
    private func open() -> EventLoopFuture<InspectedTunnel> {
        let session = InspectedTunnel(
            plan: plan, tunnel: tunnel, proxy: proxy, host: host, limits: proxy.connectionLimits, multiplexed: true
        )
        session.inUse = true
        sessions.append(session)
        let plan = self.plan
        let host = self.host
        let idle = proxy.idleTimeout(tunnel.sandbox)
        let address: SocketAddress
        do {
            address = try tunnel.address.socketAddress(port: tunnel.target.port)
        } catch {
            session.originOpen = false
            session.originError = error
            return eventLoop.makeSucceededFuture(session)
        }
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(proxy.connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(NIOSSLClientHandler(context: plan.client, serverHostname: host))
                    try sync.addHTTPClientHandlers()
                    try sync.addHandlers([IdleStateHandler(allTimeout: idle), InspectOriginHandler(session: session)])
                }
            }
            .connect(to: address)
            .map { [self] origin in
                // The agent's connection may have closed while this one was opening.
                if closed { origin.close(promise: nil) }
                origin.closeFuture.whenComplete { _ in self.sessionFreed() }
                return session
            }
            .recover { error in
                session.originOpen = false
                if session.originError == nil { session.originError = error }
                return session
            }
    }

    /// The agent's connection closed: every origin connection it opened goes with it, and no stream waits.
    func agentClosed() {
        closed = true
        for session in sessions { session.origin?.close(promise: nil) }
        let waiters = waiting
        waiting.removeAll()
        for promise in waiters { promise.fail(ChannelError.ioOnClosedChannel) }
    }
}

/// On the agent's HTTP/2 connection, between its TLS and NIOHTTP2: idle and half-closed connections, and closing the
/// origin connections with it.
final class InspectH2ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let connection: InspectedH2Connection

    init(connection: InspectedH2Connection) {
        self.connection = connection
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.agentClosed()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        if case ChannelEvent.inputClosed = event {
            // The agent sends nothing more; HTTP/2 has no use for the connection after that.
            connection.proxy.release(connection.tunnel)
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
