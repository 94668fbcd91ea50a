import AirlockPolicy
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The router's HTTP/1.1 client for upstream calls. Connections are pooled per event loop, and a request
/// always uses the pool of the loop its agent connection lives on: the request, its upstream connection and
/// the response's relay to the agent run on one thread, with no hand-off between threads. Redirects are never
/// followed (the caller passes a 3xx on as it is); TLS is verified against the system roots or the upstream's
/// CA bundle, at TLS 1.2 or later; proxy environment variables are never consulted.
final class UpstreamHTTPClient: Sendable {
    private let pools: [ObjectIdentifier: UpstreamLoopPool]
    /// The event loops the client's connections run on (local MCP servers' bridges run there too).
    let group: any EventLoopGroup
    private let tlsContexts = Locked<[String: NIOSSLContext]>([:])

    init(group: any EventLoopGroup, idleTimeout: TimeAmount = .seconds(50)) {
        self.group = group
        var pools: [ObjectIdentifier: UpstreamLoopPool] = [:]
        for loop in group.makeIterator() {
            pools[ObjectIdentifier(loop)] = UpstreamLoopPool(loop: loop, idleTimeout: idleTimeout)
        }
        self.pools = pools
    }

    /// Sends `request` to `origin` on a connection of `loop`'s pool and waits for the response head. The body
    /// stays with the returned exchange: relay it or discard it. Throws `UpstreamTransportError`, or
    /// `CancellationError` when the calling task is cancelled (the connection is then closed).
    func execute(
        _ request: UpstreamRequest,
        origin: UpstreamOrigin,
        on loop: any EventLoop,
        headDeadline: NIODeadline,
        readTimeout: TimeAmount
    ) async throws -> (UpstreamResponseHead, UpstreamExchange) {
        guard let pool = pools[ObjectIdentifier(loop)] else {
            throw UpstreamTransportError.connectFailed("the agent connection's event loop is not the router's")
        }
        let exchange = UpstreamExchange(loop: loop)
        var request = request
        request.headers.replaceOrAdd(name: "host", value: origin.hostHeader)
        let start = { [request] in
            self.begin(exchange, request: request, origin: origin, pool: pool, headDeadline: headDeadline, readTimeout: readTimeout)
        }
        return try await withTaskCancellationHandler {
            if loop.inEventLoop { start() } else { loop.execute(start) }
            do {
                return (try await exchange.head.get(), exchange)
            } catch UpstreamTransportError.cancelled {
                throw CancellationError()
            }
        } onCancel: {
            loop.execute { exchange.abort() }
        }
    }

    private func begin(
        _ exchange: UpstreamExchange,
        request: UpstreamRequest,
        origin: UpstreamOrigin,
        pool: UpstreamLoopPool,
        headDeadline: NIODeadline,
        readTimeout: TimeAmount
    ) {
        if let connection = pool.take(origin) {
            // A kept-alive connection the upstream closed just as the request went out (its idle timeout racing
            // ours) ends before any response byte: the request goes once more, on a new connection, and a new
            // connection that does the same is an upstream failure like any other.
            exchange.resendOnStale = { [weak exchange] in
                guard let exchange else { return }
                self.connectAndStart(exchange, request: request, origin: origin, pool: pool, headDeadline: headDeadline, readTimeout: readTimeout)
            }
            exchange.start(on: connection, request: request, headDeadline: headDeadline, readTimeout: readTimeout)
            return
        }
        connectAndStart(exchange, request: request, origin: origin, pool: pool, headDeadline: headDeadline, readTimeout: readTimeout)
    }

    private func connectAndStart(
        _ exchange: UpstreamExchange,
        request: UpstreamRequest,
        origin: UpstreamOrigin,
        pool: UpstreamLoopPool,
        headDeadline: NIODeadline,
        readTimeout: TimeAmount
    ) {
        connect(origin, pool: pool).whenComplete { result in
            switch result {
            case .success(let connection):
                exchange.start(on: connection, request: request, headDeadline: headDeadline, readTimeout: readTimeout)
            case .failure(let error):
                exchange.fail(Self.classifyConnectError(error))
            }
        }
    }

    private func connect(_ origin: UpstreamOrigin, pool: UpstreamLoopPool) -> EventLoopFuture<UpstreamConnection> {
        var context: NIOSSLContext?
        if origin.tls {
            do {
                context = try tlsContext(caFile: origin.caFile)
            } catch {
                return pool.loop.makeFailedFuture(UpstreamTransportError.tlsFailed(Self.tlsDescription(error) ?? "\(error)"))
            }
        }
        let sslContext = context
        let serverName = IPAddress.parse(origin.host) == nil ? origin.host : nil
        return ClientBootstrap(group: pool.loop)
            .connectTimeout(.nanoseconds(origin.connectTimeout))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    let sync = channel.pipeline.syncOperations
                    if let sslContext {
                        // Without a name (an IP address upstream) the certificate is checked against the peer's address.
                        try sync.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                    }
                    // Interim (1xx) heads are forwarded, not dropped, so the connection handler can refuse every
                    // status but 100 before a final answer (see UpstreamConnectionHandler.channelRead).
                    try sync.addHandler(HTTPRequestEncoder())
                    try sync.addHandler(
                        ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .fireError, informationalResponseStrategy: .forward))
                    )
                    try sync.addHandler(NIOHTTPRequestHeadersValidator())
                    try sync.addHandler(UpstreamConnectionHandler())
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .connect(host: origin.host, port: origin.port)
            .flatMapThrowing { channel in
                let handler = try channel.pipeline.syncOperations.handler(type: UpstreamConnectionHandler.self)
                return pool.adopt(channel: channel, origin: origin, handler: handler)
            }
    }

    private func tlsContext(caFile: String?) throws -> NIOSSLContext {
        let key = caFile ?? ""
        if let existing = tlsContexts.withLock({ $0[key] }) { return existing }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .fullVerification
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["http/1.1"]
        if let caFile {
            configuration.trustRoots = .file(caFile)
        }
        let made = try NIOSSLContext(configuration: configuration)
        tlsContexts.withLock { $0[key] = made }
        return made
    }

    /// Closes every idle connection; used at shutdown.
    func shutdown() async {
        for pool in pools.values {
            try? await pool.loop.submit { pool.closeAll() }.get()
        }
    }

    static func classifyConnectError(_ error: any Error) -> UpstreamTransportError {
        if let error = error as? UpstreamTransportError { return error }
        if let error = error as? ChannelError, case .connectTimeout = error { return .connectTimeout }
        if let error = error as? NIOConnectionError {
            if let first = error.connectionErrors.first {
                return .connectFailed(Self.shortIOError(first.error))
            }
            return .connectFailed("the host name did not resolve")
        }
        if let description = tlsDescription(error) { return .tlsFailed(description) }
        return .connectFailed(shortIOError(error))
    }

    static func shortIOError(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        if let error = error as? ChannelError, case .connectTimeout = error { return "timed out" }
        return String(describing: type(of: error))
    }

    static func tlsDescription(_ error: any Error) -> String? {
        if error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError {
            return String(describing: error)
        }
        return nil
    }
}

extension UpstreamOrigin {
    /// The Host header for this origin (port only when not the scheme's default).
    var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == (tls ? 443 : 80) ? name : "\(name):\(port)"
    }
}
