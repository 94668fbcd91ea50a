import AirlockPolicy
import AirlockReceipts
import NIOCore
import NIOHTTP1
import NIOSSL

/// One origin connection of a CONNECT to an inspected host, after the 200: the agent's TLS is terminated with the
/// router CA's leaf for the host, each request is read with NIOHTTP1 (or, over HTTP/2, NIOHTTP2 and its HTTP/1
/// codec) and the agent listener's framing checks (``HeadChecks``), judged against the entry's rules, and if allowed
/// sent with the router's credential in HTTP/1.1 over this session's own verified TLS connection to the checked
/// address. Answers (3xx included: no redirect is followed) are streamed back with backpressure, the secret scrubbed
/// from headers and body. One receipt per request.
///
/// Over HTTP/1.1 the agent's connection and the origin's are paired for their whole life. Over HTTP/2
/// (`multiplexed`) the session serves one stream at a time and goes back to its ``InspectedH2Connection`` when the
/// stream ends with the origin connection reusable.
///
/// Both channels are on one event loop; every member is touched only there.
final class InspectedTunnel: @unchecked Sendable {
    let plan: InspectPlan
    let tunnel: EgressProxy.Tunnel
    let proxy: EgressProxy
    let host: String
    let maxBodyBytes: Int
    let maxHeaderBytes: Int
    var agent: ChannelHandlerContext?
    var origin: ChannelHandlerContext?
    var originOpen = true
    /// Why the origin connection failed before any request (its certificate did not verify, say): the agent's first
    /// request is answered 502 with this, rather than the tunnel closing without a word.
    var originError: (any Error)?
    /// Serves streams of an HTTP/2 connection (one at a time) rather than a whole HTTP/1.1 connection.
    var multiplexed: Bool
    /// Taken by a stream (multiplexed sessions only), from the moment it is chosen until the stream ends.
    var inUse = false

    /// The request in flight, if any.
    struct Exchange {
        var method: String
        var target: String
        var rule: Int
        var bytesUp = 0
        var bytesDown = 0
        var status = 0
        var scrubber: StreamScrubber
        var closeAfter: Bool
        var started = DispatchTimeNanos.now()
    }

    enum State {
        case idle
        /// Request body parts go to the origin.
        case forwarding(Exchange)
        /// The request was sent whole; the answer is on its way.
        case answering(Exchange)
        /// Refused: the rest of the request is dropped, and the connection closes after the answer.
        case refusing
    }

    var state = State.idle

    init(plan: InspectPlan, tunnel: EgressProxy.Tunnel, proxy: EgressProxy, host: String, limits: HTTPConnectionHandler.Limits, multiplexed: Bool = false) {
        self.multiplexed = multiplexed
        self.plan = plan
        self.tunnel = tunnel
        self.proxy = proxy
        self.host = host
        self.maxBodyBytes = limits.maxBodyBytes
        self.maxHeaderBytes = limits.maxHeaderBytes
    }

    /// Headers that concern this hop only, or that the agent may not set on an inspected host.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "proxy-authorization",
        "proxy-authenticate", "http2-settings",
    ]

    // MARK: agent → origin

    func agentRead(_ part: HTTPServerRequestPart) {
        switch (part, state) {
        case (.head(let head), .idle):
            begin(head)
        case (.body(let chunk), .forwarding(var exchange)):
            exchange.bytesUp += chunk.readableBytes
            if exchange.bytesUp > maxBodyBytes {
                // Too late for a 413 the agent can read as an answer to this request: the head went out.
                closeBoth()
                return
            }
            state = .forwarding(exchange)
            origin?.write(NIOAny(HTTPClientRequestPart.body(.byteBuffer(chunk))), promise: nil)
        case (.end, .forwarding(let exchange)):
            state = .answering(exchange)
            origin?.writeAndFlush(NIOAny(HTTPClientRequestPart.end(nil)), promise: nil)
        case (_, .refusing):
            break
        default:
            // A request while the previous answer is still on its way (pipelining) or parts out of order.
            closeBoth()
        }
    }

    func agentReadComplete() {
        origin?.flush()
    }

    private func begin(_ head: HTTPRequestHead) {
        var headerBytes = head.uri.utf8.count
        for (name, value) in head.headers { headerBytes += name.utf8.count + value.utf8.count + 4 }
        if headerBytes > maxHeaderBytes {
            refuse(head, status: 431, reason: "headers_too_large", message: "the request headers are larger than the proxy's limit of \(maxHeaderBytes) bytes")
            return
        }
        if let problem = HeadChecks.framing(head, maxBodyBytes: maxBodyBytes, server: "egress proxy") {
            refuse(head, status: problem.status, reason: problem.reason, message: problem.message)
            return
        }
        // NIOHTTP2 refused CR, LF and NUL in fields, connection-specific fields and a `te` other than `trailers`
        // before the head became one; the HTTP/1 parser refused the same on its side.
        if head.version != (multiplexed ? HTTPVersion(major: 2, minor: 0) : .http1_1) {
            refuse(head, status: 505, reason: "malformed_request", message: "the proxy inspects HTTP/1.1 and HTTP/2 only")
            return
        }
        let method = head.method.rawValue
        switch EgressInspection.decide(plan.entry, method: method, target: head.uri) {
        case .refused(let reason, let message):
            refuse(head, status: 403, reason: reason, message: message)
        case .allowed(let rule):
            var headers = HTTPHeaders()
            let connectionTokens = Set(head.headers["connection"].flatMap { $0.split(separator: ",") }.map { $0.trimmedOWS().lowercased() })
            for (name, value) in head.headers {
                let lower = name.lowercased()
                if Self.hopByHop.contains(lower) || connectionTokens.contains(lower) || lower == "host" { continue }
                if plan.authorization != nil, lower == "authorization" || lower == "cookie" || lower == "accept-encoding" {
                    // Answers are read for the secret, so they must come uncompressed; the agent's own
                    // credentials never reach the host alongside the router's.
                    continue
                }
                headers.add(name: name, value: value)
            }
            headers.replaceOrAdd(name: "host", value: tunnel.target.port == 443 ? host : "\(host):\(tunnel.target.port)")
            if let authorization = plan.authorization { headers.add(name: "authorization", value: authorization) }
            let exchange = Exchange(
                method: method, target: head.uri, rule: rule, scrubber: StreamScrubber(scrubbers: plan.scrubbers),
                closeAfter: !head.isKeepAlive
            )
            guard originOpen else {
                if let originError {
                    let reason = Self.failureReason(originError)
                    refuse(head, status: 502, reason: reason, message: "\(host): \(originError)", decision: "error")
                } else {
                    refuse(head, status: 502, reason: "connect_failed", message: "the connection to \(host) was closed", decision: "error")
                }
                return
            }
            state = .forwarding(exchange)
            let outbound = HTTPRequestHead(version: .http1_1, method: head.method, uri: head.uri, headers: headers)
            origin?.write(NIOAny(HTTPClientRequestPart.head(outbound)), promise: nil)
        }
    }

    /// Answers 403 (or another refusal) with a plain-text reason and `x-airlock-reason`, records it, and closes after.
    private func refuse(_ head: HTTPRequestHead, status: Int, reason: String, message: String, decision: String = "deny") {
        refuse(method: head.method.rawValue, target: head.uri, status: status, reason: reason, message: message, decision: decision)
    }

    private func refuse(method: String, target: String, status: Int, reason: String, message: String, decision: String, bytesUp: Int = 0) {
        state = .refusing
        proxy.recordRequest(tunnel: tunnel, plan: plan, method: method, target: target, decision: decision, reason: reason, status: status, bytesUp: bytesUp, bytesDown: 0, latency: 0)
        guard let agent else { return }
        let body = "airlock egress: \(message)\n"
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "text/plain; charset=utf-8")
        headers.add(name: "content-length", value: String(body.utf8.count))
        headers.add(name: "x-airlock-reason", value: reason)
        headers.add(name: "connection", value: "close")
        let answer = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
        agent.write(NIOAny(HTTPServerResponsePart.head(answer)), promise: nil)
        agent.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        let channel = agent.channel
        agent.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    // MARK: origin → agent

    func originRead(_ part: HTTPClientResponsePart) {
        guard case .answering(var exchange) = state else {
            if case .forwarding = state {
                // An early answer (often a refusal) while the body is still being sent: relay it all the same.
                relayEarly(part)
                return
            }
            closeBoth()
            return
        }
        switch part {
        case .head(var head):
            if head.status.code < 200 {
                // 100 Continue and friends: passed on; the final answer follows.
                agent?.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
                return
            }
            exchange.status = Int(head.status.code)
            if !head.isKeepAlive { exchange.closeAfter = true }
            head.headers = scrubbed(head.headers)
            state = .answering(exchange)
            agent?.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        case .body(let chunk):
            exchange.bytesDown += chunk.readableBytes
            let out = exchange.scrubber.feed(Array(chunk.readableBytesView))
            state = .answering(exchange)
            if !out.isEmpty { agent?.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: out)))), promise: nil) }
        case .end:
            guard exchange.status >= 200 else { return }
            let rest = exchange.scrubber.finish()
            if !rest.isEmpty { agent?.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: rest)))), promise: nil) }
            state = .idle
            let latency = Int64((DispatchTimeNanos.now() - exchange.started) / 1000)
            proxy.recordRequest(tunnel: tunnel, plan: plan, method: exchange.method, target: exchange.target, decision: "ok", reason: "rule_\(exchange.rule)", status: exchange.status, bytesUp: exchange.bytesUp, bytesDown: exchange.bytesDown, latency: latency)
            guard let agent else { return }
            let channel = agent.channel
            let close = exchange.closeAfter
            agent.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in
                if close { channel.close(promise: nil) }
            }
        }
    }

    private func relayEarly(_ part: HTTPClientResponsePart) {
        guard case .forwarding(let exchange) = state else { return }
        state = .answering(exchange)
        originRead(part)
        if case .answering(var current) = state {
            current.closeAfter = true
            state = .answering(current)
        }
    }

    func originReadComplete() {
        agent?.flush()
    }

    private func scrubbed(_ headers: HTTPHeaders) -> HTTPHeaders {
        guard !plan.scrubbers.isEmpty else { return headers }
        var out = HTTPHeaders()
        for (name, value) in headers {
            var bytes = Array(value.utf8)
            for scrubber in plan.scrubbers { scrubber.scrub(&bytes) }
            out.add(name: name, value: String(decoding: bytes, as: UTF8.self))
        }
        return out
    }

    /// The origin failed the TLS handshake or the connection: the agent gets a 502 it can read, if nothing of an
    /// answer was sent yet.
    func originFailed(_ error: any Error) {
        if case .idle = state {
            // Before any request (the agent's side may still be negotiating, with no handler yet): kept for the
            // first request, which gets a 502 naming it.
            if originError == nil { originError = error }
            originOpen = false
            return
        }
        guard agent != nil else { return }
        switch state {
        case .forwarding(let exchange), .answering(let exchange):
            if exchange.status == 0 {
                refuse(method: exchange.method, target: exchange.target, status: 502, reason: Self.failureReason(error),
                       message: "\(host): \(error)", decision: "error", bytesUp: exchange.bytesUp)
                return
            }
        case .idle:
            return
        case .refusing:
            break
        }
        closeBoth()
    }

    static func failureReason(_ error: any Error) -> String {
        error is NIOSSLError || error is BoringSSLError ? "upstream_tls_failed" : "connect_failed"
    }

    func originClosed() {
        originOpen = false
        switch state {
        case .idle:
            if originError == nil { agent?.close(promise: nil) }
        case .refusing:
            break
        case .forwarding, .answering:
            originFailed(ChannelError.eof)
        }
    }

    /// Whether a stream can take this session now (multiplexed sessions only).
    var available: Bool {
        guard !inUse, originOpen, agent == nil, origin != nil else { return false }
        if case .idle = state { return true }
        return false
    }

    /// The stream this session served has ended (multiplexed sessions only). A refusal sent nothing to the origin,
    /// so the connection stays usable; a stream that ended mid-exchange leaves the origin in an unknown place in
    /// its answer, so its connection is closed.
    func streamEnded() {
        agent = nil
        inUse = false
        pendingAgentRead = false
        if pendingOriginRead {
            // The origin's next read waited for this stream's window; it waits for nobody now.
            pendingOriginRead = false
            origin?.read()
        }
        switch state {
        case .idle:
            break
        case .refusing:
            state = .idle
        case .forwarding, .answering:
            state = .idle
            originOpen = false
            origin?.close(promise: nil)
        }
    }

    func closeBoth() {
        agent?.close(promise: nil)
        origin?.close(promise: nil)
    }

    // MARK: backpressure

    var agentWritable: Bool { agent?.channel.isWritable ?? false }
    var originWritable: Bool { origin?.channel.isWritable ?? false }
    var pendingAgentRead = false
    var pendingOriginRead = false

    func agentBecameWritable() {
        if pendingOriginRead {
            pendingOriginRead = false
            origin?.read()
        }
    }

    func originBecameWritable() {
        if pendingAgentRead {
            pendingAgentRead = false
            agent?.read()
        }
    }
}

/// The agent's side: after NIOSSL's server handler and NIOHTTP1's server codec.
final class InspectAgentHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let session: InspectedTunnel

    init(session: InspectedTunnel) {
        self.session = session
    }

    func handlerAdded(context: ChannelHandlerContext) { session.agent = context }
    func handlerRemoved(context: ChannelHandlerContext) {
        if session.agent === context { session.agent = nil }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        session.agentRead(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        session.agentReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A stream's end gives its session back to the connection (InspectedH2Connection); a whole HTTP/1.1
        // connection's end takes the origin connection with it.
        if !session.multiplexed { session.origin?.close(promise: nil) }
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { session.agentBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if session.originWritable || session.origin == nil {
            context.read()
        } else {
            session.pendingAgentRead = true
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A malformed request (NIOHTTP1 refuses bad characters, obs-fold, bad chunking), a failed handshake: the
        // connection cannot be trusted to frame another request.
        session.closeBoth()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            session.closeBoth()
            return
        }
        if case ChannelEvent.inputClosed = event {
            session.proxy.release(session.tunnel)
            if case .idle = session.state { session.closeBoth() }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// The origin's side: after NIOSSL's client handler and NIOHTTP1's client codec.
final class InspectOriginHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    private let session: InspectedTunnel

    init(session: InspectedTunnel) {
        self.session = session
    }

    func handlerAdded(context: ChannelHandlerContext) { session.origin = context }
    func handlerRemoved(context: ChannelHandlerContext) { session.origin = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        session.originRead(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        session.originReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        session.originClosed()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { session.originBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if session.agentWritable || session.agent == nil {
            context.read()
        } else {
            session.pendingOriginRead = true
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        session.originFailed(error)
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            session.closeBoth()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
