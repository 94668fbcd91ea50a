#if canImport(Glibc)
import Glibc
#endif
import AirlockReceipts
import Prometheus
import NIOCore
import NIOHTTP1

/// What the operator listener serves: Prometheus metrics and health. It is a separate listener from the
/// agents' (in a sandbox's network namespace the agent cannot reach it at all).
final class OperatorEndpoints: Sendable {
    let metrics: RouterMetrics
    private let state = Locked<(ready: Bool, why: String)>((false, "starting"))
    private let sampler = Locked<(@Sendable () -> Void)?>(nil)

    init(metrics: RouterMetrics) {
        self.metrics = metrics
    }

    /// Called before each scrape to refresh gauges (breaker states, budgets, in-flight).
    func setSampler(_ sample: @escaping @Sendable () -> Void) {
        sampler.withLock { $0 = sample }
    }

    func setReady(_ ready: Bool, _ why: String) {
        state.withLock { $0 = (ready, why) }
    }

    func respond(method: HTTPMethod, path: Substring) -> (HTTPResponseStatus, String, String) {
        guard method == .GET else { return (.methodNotAllowed, "text/plain", "only GET\n") }
        switch path {
        case "/metrics":
            sampler.withLock { $0 }?()
            return (.ok, "text/plain; version=0.0.4; charset=utf-8", metrics.registry.emitToString())
        case "/healthz":
            return (.ok, "text/plain", "ok\n")
        case "/readyz":
            let (ready, why) = state.withLock { $0 }
            return ready ? (.ok, "text/plain", "ready\n") : (.serviceUnavailable, "text/plain", "not ready: \(why)\n")
        default:
            return (.notFound, "text/plain", "operator endpoints: /metrics /healthz /readyz\n")
        }
    }
}

/// One operator connection. Only the UIDs the listener names are answered (its `/metrics` names tenants, sandboxes
/// and budgets); every other peer gets 403 and is closed. A connection that has not sent a complete request within
/// `timeout` of connecting or of its previous answer is closed, and so is one whose peer has finished sending.
final class OperatorHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let endpoints: OperatorEndpoints
    /// Why this peer is not answered; nil when it may be.
    private let refusal: String?
    private let timeout: TimeAmount
    private var head: HTTPRequestHead?
    private var timer: Scheduled<Void>?

    init(endpoints: OperatorEndpoints, refusal: String?, timeout: TimeAmount) {
        self.endpoints = endpoints
        self.refusal = refusal
        self.timeout = timeout
    }

    /// Why `evidence` may not use an operator listener that answers `allowed` (nil: root and the router's own UID).
    static func refusal(for evidence: PeerIdentity.Evidence, allowed: [UInt32]?) -> String? {
        let uid: UInt32
        switch evidence {
        case .unixPeer(_, let peerUID, _): uid = peerUID
        case .tcpPeer(let peerUID): uid = peerUID
        case .listener, .unknown: return "the peer's UID is unknown; the operator listener answers only the UIDs it names"
        }
        let permitted = allowed ?? [0, geteuid()]
        guard permitted.contains(uid) else {
            return "UID \(uid) may not use the operator listener; list it in the listener's `uids` to allow it"
        }
        return nil
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            // Every answer is written as soon as its request ends, so nothing is left to send: close now, not
            // when a later write fails (a peer that connects and closes must not leave a socket behind).
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            let status: HTTPResponseStatus
            let type: String
            let body: String
            if let refusal {
                (status, type, body) = (.forbidden, "text/plain", refusal + "\n")
            } else {
                let uri = head.uri[...]
                let path = uri.firstIndex(of: "?").map { uri[..<$0] } ?? uri
                (status, type, body) = endpoints.respond(method: head.method, path: path)
            }
            let keepAlive = head.isKeepAlive && refusal == nil
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: type)
            headers.add(name: "content-length", value: String(body.utf8.count))
            if !keepAlive { headers.add(name: "connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { [channel = context.channel] _ in
                if !keepAlive { channel.close(promise: nil) }
            }
            arm(context)
        }
    }

    private func arm(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }
}

/// Sends receipts to another sink and records the append's outcome and latency.
struct MeteredReceipts: ReceiptSink {
    let inner: any ReceiptSink
    let metrics: RouterMetrics

    func append(_ receipt: AirlockReceipts.Receipt) async throws -> UInt64 {
        let start = ContinuousClock.now
        do {
            let index = try await inner.append(receipt)
            metrics.receiptAppend(kind: receipt.kind.rawValue, ContinuousClock.now - start, ok: true)
            return index
        } catch {
            metrics.receiptAppend(kind: receipt.kind.rawValue, ContinuousClock.now - start, ok: false)
            throw error
        }
    }

    func bodyHasher() -> AirlockReceipts.BodyHasher? {
        inner.bodyHasher()
    }
}
