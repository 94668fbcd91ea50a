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

final class OperatorHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let endpoints: OperatorEndpoints
    private var head: HTTPRequestHead?

    init(endpoints: OperatorEndpoints) {
        self.endpoints = endpoints
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            let uri = head.uri[...]
            let path = uri.firstIndex(of: "?").map { uri[..<$0] } ?? uri
            let (status, type, body) = endpoints.respond(method: head.method, path: path)
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: type)
            headers.add(name: "content-length", value: String(body.utf8.count))
            if !head.isKeepAlive { headers.add(name: "connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            let keepAlive = head.isKeepAlive
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { [channel = context.channel] _ in
                if !keepAlive { channel.close(promise: nil) }
            }
            self.head = nil
        }
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
