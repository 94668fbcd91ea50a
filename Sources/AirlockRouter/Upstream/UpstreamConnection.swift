import NIOCore
import NIOHTTP1

/// One keep-alive HTTP/1.1 connection to an upstream origin, owned by the pool of its event loop. It carries
/// one exchange at a time; after a complete response that allows reuse it goes back to the pool.
final class UpstreamConnection: @unchecked Sendable {
    let channel: any Channel
    let origin: UpstreamOrigin
    fileprivate let handler: UpstreamConnectionHandler
    fileprivate weak var pool: UpstreamLoopPool?
    /// Monotonic time it went idle in the pool.
    var idleSince = NIODeadline.now()
    private(set) var isClosed = false

    fileprivate init(channel: any Channel, origin: UpstreamOrigin, handler: UpstreamConnectionHandler, pool: UpstreamLoopPool) {
        self.channel = channel
        self.origin = origin
        self.handler = handler
        self.pool = pool
    }

    var isReusable: Bool { !isClosed && channel.isActive }

    func send(_ request: UpstreamRequest, exchange: UpstreamExchange, headDeadline: NIODeadline) {
        handler.begin(exchange, deadline: headDeadline, connection: self)
        var headers = request.headers
        if request.method == .POST || request.body.readableBytes > 0 {
            headers.replaceOrAdd(name: "content-length", value: String(request.body.readableBytes))
        }
        let head = HTTPRequestHead(version: .http1_1, method: request.method, uri: request.target, headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(request.body)), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    func pauseReads() { handler.readsPaused = true }

    func resumeReads() {
        guard handler.readsPaused else { return }
        handler.readsPaused = false
        if handler.readRequested {
            handler.readRequested = false
            channel.read()
        }
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        pool?.forget(self)
        channel.close(promise: nil)
    }

    /// The exchange finished with a response that allows reuse.
    fileprivate func finished() {
        guard isReusable else { return }
        pool?.giveBack(self)
    }

    fileprivate func closedByPeer() {
        isClosed = true
        pool?.forget(self)
    }
}

/// Feeds response parts to the current exchange; holds reads back while the exchange asks it to.
final class UpstreamConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    private var exchange: UpstreamExchange?
    private weak var connection: UpstreamConnection?
    /// When the waiting exchange's response head is due; nil once it came.
    private var headDeadline: NIODeadline?
    /// One timer per connection, re-armed only when a deadline is earlier than the pending one.
    private var headTimer: Scheduled<Void>?
    private var headTimerAt = NIODeadline.distantFuture
    private var reusable = true
    private var sawHead = false
    var readsPaused = false
    var readRequested = false

    func begin(_ exchange: UpstreamExchange, deadline: NIODeadline, connection: UpstreamConnection) {
        self.exchange = exchange
        self.connection = connection
        reusable = true
        sawHead = false
        headDeadline = deadline
        if headTimer == nil || headTimerAt > deadline {
            headTimer?.cancel()
            scheduleHeadTimer(at: deadline, loop: connection.channel.eventLoop)
        }
    }

    private func scheduleHeadTimer(at when: NIODeadline, loop: any EventLoop) {
        let bound = NIOLoopBound(self, eventLoop: loop)
        headTimerAt = when
        headTimer = loop.scheduleTask(deadline: when) {
            let handler = bound.value
            handler.headTimer = nil
            handler.headTimerAt = .distantFuture
            guard let due = handler.headDeadline, let exchange = handler.exchange else { return }
            if NIODeadline.now() < due {
                handler.scheduleHeadTimer(at: due, loop: loop)
                return
            }
            handler.exchange = nil
            handler.headDeadline = nil
            exchange.fail(.responseHeadTimeout)
            handler.connection?.close()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let exchange else {
            // Bytes nobody asked for (a response without a request): the connection cannot be trusted.
            context.close(promise: nil)
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let head):
            let code = head.status.code
            if code == 100 && !sawHead {
                // 100 Continue carries nothing for the agent; the final head follows.
                return
            }
            guard (200...599).contains(code) else {
                // 000, 099, 101 (the parser stops at an upgrade), other 1xx, 600 and up: not an answer the
                // agent can be given. The connection is closed, never pooled, and the agent gets a 502 at once.
                reusable = false
                failExchange(.protocolError("status \(code)"))
                connection?.close()
                return
            }
            reusable = head.isKeepAlive
            sawHead = true
            headDeadline = nil
            exchange.receivedHead(head)
        case .body(let chunk):
            exchange.receivedBody(chunk)
        case .end:
            self.exchange = nil
            readsPaused = false
            if reusable, let connection {
                connection.finished()
            } else {
                connection?.close()
            }
            exchange.receivedEnd()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.readBurstEnded()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if readsPaused {
            readRequested = true
            return
        }
        context.read()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let reason: UpstreamTransportError
        if error is HTTPParserError {
            reason = .malformedResponse
        } else if case ByteToMessageDecoderError.leftoverDataWhenDone = error {
            // Part of a head, then the end of the connection: the upstream answered, badly.
            reason = .malformedResponse
        } else if let description = UpstreamHTTPClient.tlsDescription(error) {
            reason = .tlsFailed(description)
        } else {
            reason = sawHead ? .closedMidBody : .closedBeforeResponse
        }
        failExchange(reason)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        headTimer?.cancel()
        headTimer = nil
        headDeadline = nil
        connection?.closedByPeer()
        failExchange(sawHead ? .closedMidBody : .closedBeforeResponse)
        context.fireChannelInactive()
    }

    private func failExchange(_ reason: UpstreamTransportError) {
        guard let exchange else { return }
        self.exchange = nil
        headDeadline = nil
        exchange.fail(reason)
    }
}

/// Where a connection goes: scheme, host, port and how to verify it. Connections are never shared across
/// origins with different trust settings.
struct UpstreamOrigin: Hashable, Sendable {
    var tls: Bool
    var host: String
    var port: Int
    var caFile: String?
    var connectTimeout: Int64
}

/// The idle connections of one event loop, by origin. Touched only on that loop.
final class UpstreamLoopPool: @unchecked Sendable {
    let loop: any EventLoop
    private var idle: [UpstreamOrigin: [UpstreamConnection]] = [:]
    private var sweeper: RepeatedTask?
    /// Idle connections are closed after this long (below common upstream keep-alive limits).
    let idleTimeout: TimeAmount
    static let maxIdlePerOrigin = 256

    init(loop: any EventLoop, idleTimeout: TimeAmount) {
        self.loop = loop
        self.idleTimeout = idleTimeout
    }

    /// A live idle connection to `origin`, most recently used first, or nil.
    func take(_ origin: UpstreamOrigin) -> UpstreamConnection? {
        while var list = idle[origin], let connection = list.popLast() {
            idle[origin] = list
            if connection.isReusable { return connection }
        }
        return nil
    }

    func adopt(channel: any Channel, origin: UpstreamOrigin, handler: UpstreamConnectionHandler) -> UpstreamConnection {
        UpstreamConnection(channel: channel, origin: origin, handler: handler, pool: self)
    }

    fileprivate func giveBack(_ connection: UpstreamConnection) {
        var list = idle[connection.origin, default: []]
        if list.count >= Self.maxIdlePerOrigin {
            connection.close()
            return
        }
        connection.idleSince = .now()
        list.append(connection)
        idle[connection.origin] = list
        if sweeper == nil {
            sweeper = loop.scheduleRepeatedTask(initialDelay: .seconds(5), delay: .seconds(5)) { [weak self] _ in
                self?.sweep()
            }
        }
    }

    fileprivate func forget(_ connection: UpstreamConnection) {
        guard var list = idle[connection.origin], let index = list.firstIndex(where: { $0 === connection }) else { return }
        list.remove(at: index)
        idle[connection.origin] = list
    }

    private func sweep() {
        let cutoff = NIODeadline.now() - idleTimeout
        for (origin, list) in idle {
            let stale = list.filter { $0.idleSince < cutoff }
            guard !stale.isEmpty else { continue }
            idle[origin] = list.filter { $0.idleSince >= cutoff }
            for connection in stale { connection.close() }
        }
    }

    func closeAll() {
        sweeper?.cancel()
        sweeper = nil
        let all = idle.values.flatMap { $0 }
        idle = [:]
        for connection in all { connection.close() }
    }
}
