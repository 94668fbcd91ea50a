#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy
import NIOCore
import NIOHTTP1
import NIOPosix

/// Binds the configured listeners and sets up each accepted connection: identity first, from the kernel,
/// then the HTTP pipeline.
struct ListenerFactory {
    let group: any EventLoopGroup
    let pipeline: RequestPipeline
    let tracker: ConnectionTracker
    let holder: RuntimeHolder
    let operatorEndpoints: OperatorEndpoints

    enum Source: Sendable {
        case tcp
        case unix
        case listener(sandbox: String)
    }

    func bind(_ listener: ListenerConfig) async throws -> any Channel {
        switch listener.kind {
        case .tcp(let host, let port):
            return try await bootstrap(.tcp, role: listener.role, operatorUIDs: listener.uids)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port).get()
        case .unix(let path, let mode, let group):
            let channel = try await bootstrap(.unix, role: listener.role, operatorUIDs: listener.uids)
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
            try Self.secureSocketFile(path, mode: UInt32(mode.rawValue), group: group)
            return channel
        case .inherited(let fd, let sandbox):
            return try await adopt(fd: fd, sandbox: sandbox, role: listener.role)
        }
    }

    /// Serves an already-bound socket for one sandbox (inherited at start, or handed in by `airlock run`).
    func adopt(fd: Int32, sandbox: String, role: ListenerConfig.Role) async throws -> any Channel {
        try Self.prepareInherited(fd)
        return try await bootstrap(.listener(sandbox: sandbox), role: role).withBoundSocket(fd).get()
    }

    private func bootstrap(_ source: Source, role: ListenerConfig.Role, operatorUIDs: [UInt32]? = nil) -> ServerBootstrap {
        let pipeline = self.pipeline
        let tracker = self.tracker
        let holder = self.holder
        let operatorEndpoints = self.operatorEndpoints
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                let evidence: EventLoopFuture<PeerIdentity.Evidence>
                switch source {
                case .tcp:
                    _ = channel.setOption(.socketOption(.tcp_nodelay), value: 1)
                    evidence = channel.eventLoop.makeSucceededFuture(
                        PeerCredentials.tcpPeer(remote: channel.remoteAddress, local: channel.localAddress)
                    )
                case .unix:
                    evidence = PeerCredentials.unixPeer(of: channel)
                case .listener(let sandbox):
                    evidence = channel.eventLoop.makeSucceededFuture(.listener(sandbox: sandbox))
                }
                return evidence.flatMapThrowing { evidence in
                    let runtime = holder.current
                    if role == .operator {
                        tracker.opened(channel)
                        let sync = channel.pipeline.syncOperations
                        try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                        try sync.addHandler(
                            OperatorHTTPHandler(
                                endpoints: operatorEndpoints,
                                refusal: OperatorHTTPHandler.refusal(for: evidence, allowed: operatorUIDs),
                                timeout: runtime.connectionLimits.headerTimeout
                            )
                        )
                        return
                    }
                    let peer = runtime.identities.identify(evidence)
                    let sync = channel.pipeline.syncOperations
                    let cap = runtime.connectionLimits.maxConnectionsPerPeer
                    guard tracker.opened(channel, peer: peer.connectionKey, cap: cap) else {
                        // One peer must not hold every descriptor the router has: past its cap it is told why.
                        runtime.metrics.refusal(reason: "too_many_connections", sandbox: peer.sandbox?.name ?? "")
                        try sync.addHandler(ConnectionRefuser(RouterError.tooManyConnections(cap)))
                        return
                    }
                    if role == .egress {
                        try sync.addHandler(EgressProxyHandler(peer: peer, proxy: runtime.egress))
                        return
                    }
                    try sync.configureTimedHTTPServerPipeline(pipelining: false, errorHandling: false)
                    try sync.addHandler(RequestGate())
                    try sync.addHandler(HTTPServerProtocolErrorHandler())
                    try sync.addHandler(
                        HTTPConnectionHandler(peer: peer, limits: runtime.connectionLimits, pipeline: pipeline, tracker: tracker)
                    )
                }
            }
    }

    /// An inherited descriptor must be a stream socket; it is made non-blocking, close-on-exec and listening.
    static func prepareInherited(_ fd: Int32) throws {
        var type: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 else {
            throw SystemCallError(call: "getsockopt(SO_TYPE)", subject: "inherited descriptor \(fd)", errno: errno)
        }
        guard type == Int32(SOCK_STREAM.rawValue) else {
            throw SystemCallError(call: "getsockopt(SO_TYPE)", subject: "inherited descriptor \(fd) is not a stream socket", errno: ENOTSOCK)
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        guard listen(fd, 1024) == 0 else {
            throw SystemCallError(call: "listen", subject: "inherited descriptor \(fd)", errno: errno)
        }
    }

    /// Applies the configured mode and group to a Unix socket path.
    static func secureSocketFile(_ path: String, mode: UInt32, group: String?) throws {
        if let group {
            let gid: gid_t
            if let numeric = gid_t(group) {
                gid = numeric
            } else if let entry = getgrnam(group) {
                gid = entry.pointee.gr_gid
            } else {
                throw SystemCallError(call: "getgrnam", subject: "group \"\(group)\" for \(path)", errno: ENOENT)
            }
            guard chown(path, uid_t.max, gid) == 0 else {
                throw SystemCallError(call: "chown", subject: path, errno: errno)
            }
        }
        guard chmod(path, mode_t(mode)) == 0 else {
            throw SystemCallError(call: "chmod", subject: path, errno: errno)
        }
    }
}

/// Answers a connection the router will not serve with one HTTP response (an agent's SDK and a proxy client both
/// read it) and closes it, without reading a request.
final class ConnectionRefuser: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let answer: String

    init(_ refusal: RouterError) {
        let body = refusal.body(for: .openai)
        let phrase = HTTPResponseStatus(statusCode: refusal.status).reasonPhrase
        var head = "HTTP/1.1 \(refusal.status) \(phrase)\r\ncontent-type: application/json\r\n"
        if let retry = refusal.retryAfterSeconds { head += "retry-after: \(retry)\r\n" }
        answer = head + "content-length: \(body.utf8.count)\r\nconnection: close\r\n\r\n" + body
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        refuse(context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    private func refuse(_ context: ChannelHandlerContext) {
        let channel = context.channel
        context.writeAndFlush(NIOAny(channel.allocator.buffer(string: answer))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}
