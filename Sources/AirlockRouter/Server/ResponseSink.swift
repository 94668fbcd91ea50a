import AirlockPolicy
import NIOCore
import NIOHTTP1

/// Writes one HTTP response to an agent connection from async code, with backpressure: each body write
/// completes only when the bytes have been handed to the kernel.
struct ResponseSink: Sendable {
    let channel: any Channel
    let keepAlive: Bool

    /// Headers every response carries.
    struct Common: Sendable {
        var requestID: String
        var traceparent: String?
    }

    /// The response head with the headers every response carries.
    private func responseHead(_ status: HTTPResponseStatus, _ headers: HTTPHeaders, _ common: Common) -> HTTPResponseHead {
        var headers = headers
        headers.replaceOrAdd(name: "x-request-id", value: common.requestID)
        if let traceparent = common.traceparent {
            headers.replaceOrAdd(name: "traceparent", value: traceparent)
        }
        if !keepAlive {
            headers.replaceOrAdd(name: "connection", value: "close")
        }
        return HTTPResponseHead(version: .http1_1, status: status, headers: headers)
    }

    /// The response head part, for a relay to write ahead of the body.
    func head(status: HTTPResponseStatus, headers: HTTPHeaders, common: Common) -> HTTPServerResponsePart {
        .head(responseHead(status, headers, common))
    }

    func end() async throws {
        try await channel.writeAndFlush(HTTPServerResponsePart.end(nil))
        if !keepAlive {
            try? await channel.close()
        }
    }

    /// A complete response in one flush.
    func full(status: HTTPResponseStatus, headers: HTTPHeaders, body: String, common: Common) async {
        var headers = headers
        headers.replaceOrAdd(name: "content-length", value: String(body.utf8.count))
        let head = responseHead(status, headers, common)
        let buffer = channel.allocator.buffer(string: body)
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(buffer)), promise: nil)
        _ = try? await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
        if !keepAlive {
            try? await channel.close()
        }
    }

    /// The router's own error response, in the agent's API family's shape.
    func error(_ error: RouterError, family: APIFamily, common: Common) async {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        if let retry = error.retryAfterSeconds {
            headers.add(name: "retry-after", value: String(retry))
        }
        if error.status == 405 {
            headers.add(name: "allow", value: "GET, POST")
        }
        await full(
            status: HTTPResponseStatus(statusCode: error.status),
            headers: headers,
            body: error.body(for: family),
            common: common
        )
    }
}
