import AirlockPolicy
import NIOCore
import NIOHTTP1
import NIOPosix

/// Sends one add-checkpoint request to a witness on its own connection and reads the whole (bounded) answer.
struct WitnessClient: Sendable {
    struct Answer: Sendable {
        let status: Int
        let contentType: String
        let body: String
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The largest answer read: a few cosignature lines.
    static let maxAnswerBytes = 16 * 1024

    let group: any EventLoopGroup

    func addCheckpoint(_ url: WitnessURL, body: String, timeout: TimeAmount) async throws -> Answer {
        let loop = group.next()
        let promise = loop.makePromise(of: Answer.self)
        var headers = HTTPHeaders()
        headers.add(
            name: "host", value: url.host.contains(":") ? "[\(url.host)]:\(url.port)" : "\(url.host):\(url.port)")
        headers.add(name: "content-type", value: "text/plain; charset=utf-8")
        headers.add(name: "content-length", value: String(body.utf8.count))
        headers.add(name: "connection", value: "close")
        let head = HTTPRequestHead(
            version: .http1_1, method: .POST, uri: url.path + "/add-checkpoint", headers: headers)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(
                            WitnessAnswerReader(request: head, body: body, promise: promise)
                        )
                    }
                }
                .connect(host: url.host, port: url.port).get()
        } catch {
            promise.fail(Failure(description: "cannot connect: \(error)"))
            throw Failure(description: "cannot connect to \(url.host) port \(url.port): \(error)")
        }
        let timer = loop.scheduleTask(in: timeout) {
            promise.fail(Failure(description: "no answer within \(timeout.nanoseconds / 1_000_000_000) s"))
            channel.close(promise: nil)
        }
        defer {
            timer.cancel()
            channel.close(promise: nil)
        }
        return try await promise.futureResult.get()
    }
}

/// Writes the request once connected and collects the response.
private final class WitnessAnswerReader: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let request: HTTPRequestHead
    private let body: String
    private let promise: EventLoopPromise<WitnessClient.Answer>
    private var head: HTTPResponseHead?
    private var collected: [UInt8] = []

    init(request: HTTPRequestHead, body: String, promise: EventLoopPromise<WitnessClient.Answer>) {
        self.request = request
        self.body = body
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(request)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body(let chunk):
            guard collected.count + chunk.readableBytes <= WitnessClient.maxAnswerBytes else {
                promise.fail(
                    WitnessClient.Failure(
                        description: "the answer is larger than \(WitnessClient.maxAnswerBytes) bytes"))
                context.close(promise: nil)
                return
            }
            collected.append(contentsOf: chunk.readableBytesView)
        case .end:
            guard let head else { return }
            promise.succeed(
                WitnessClient.Answer(
                    status: Int(head.status.code),
                    contentType: head.headers.first(name: "content-type") ?? "",
                    body: String(decoding: collected, as: UTF8.self)
                )
            )
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(WitnessClient.Failure(description: "the witness closed the connection without a whole answer"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(WitnessClient.Failure(description: "\(error)"))
        context.close(promise: nil)
    }
}
