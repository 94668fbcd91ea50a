import NIOCore
import NIOHTTP1

/// What the connection handler should do for one request: pure data, decided before any I/O.
struct ResponsePlan {
    enum Body {
        case full(ByteBuffer)
        case stream(any SSEEventSource)
    }

    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: Body
    var delayBeforeHeaders: TimeAmount = .zero
    var chunkDelay: TimeAmount = .zero
    var resetAfterBytes: Int?
    var hang = false
    /// The recorded request this answers; `nil` for control endpoints, which are not recorded.
    var requestID: Int?

    static func json(_ status: HTTPResponseStatus, _ text: String, extraHeaders: [(String, String)] = [])
        -> ResponsePlan
    {
        let buffer = ByteBuffer(string: text)
        var headers = HTTPHeaders()
        headers.reserveCapacity(3 + extraHeaders.count)
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(buffer.readableBytes))
        headers.add(contentsOf: extraHeaders)
        return ResponsePlan(status: status, headers: headers, body: .full(buffer))
    }

    static func eventStream(_ source: any SSEEventSource, extraHeaders: [(String, String)] = []) -> ResponsePlan {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "text/event-stream; charset=utf-8")
        headers.add(name: "cache-control", value: "no-cache")
        headers.add(contentsOf: extraHeaders)
        return ResponsePlan(status: .ok, headers: headers, body: .stream(source))
    }

    /// Applies a fault's timing knobs (status faults are decided by the responder).
    mutating func apply(_ fault: MockFault, defaultChunkDelay: TimeAmount) {
        self.delayBeforeHeaders = .milliseconds(Int64(fault.delayBeforeHeadersMs ?? 0))
        self.chunkDelay = fault.chunkDelayMs.map { .milliseconds(Int64($0)) } ?? defaultChunkDelay
        self.resetAfterBytes = fault.resetAfterBytes
        self.hang = fault.hang
    }
}
