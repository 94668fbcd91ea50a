import W3CTraceContext

/// Request ids and W3C trace context for one request.
enum RequestIDs {
    /// 32 lowercase hex characters from the system random source.
    static func make() -> String {
        var generator = BufferedRandom()
        let a = generator.next() as UInt64
        let b = generator.next() as UInt64
        return hex(a) + hex(b)
    }

    /// The agent's `x-request-id` if it is short and plain, else a new one.
    static func accept(_ value: String?) -> String {
        guard let value, (1...128).contains(value.utf8.count),
            value.utf8.allSatisfy({ isPlain($0) })
        else { return make() }
        return value
    }

    private static func isPlain(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E
            || b == 0x5F
    }

    private static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

/// The trace context the router forwards upstream: the agent's trace id (when its `traceparent` is valid)
/// with the router's own span id, or a new trace.
struct TraceHop: Sendable {
    let context: TraceContext
    /// The `traceparent` header value, rendered once.
    let traceparent: String

    init(traceparent: String?, tracestate: String?) {
        var random = BufferedRandom()
        if let traceparent, let incoming = try? TraceContext(traceParentHeaderValue: traceparent, traceStateHeaderValue: tracestate) {
            context = TraceContext(traceID: incoming.traceID, spanID: .random(using: &random), flags: incoming.flags, state: incoming.state)
        } else {
            context = TraceContext(traceID: .random(using: &random), spanID: .random(using: &random), flags: [], state: TraceState())
        }
        let rendered = context.traceParentHeaderValue
        self.traceparent = rendered
        let idStart = rendered.utf8.index(rendered.utf8.startIndex, offsetBy: 3)
        traceID = String(rendered[idStart..<rendered.utf8.index(idStart, offsetBy: 32)])
    }

    var tracestate: String? { context.traceStateHeaderValue }

    /// The 32-hex-digit trace id.
    let traceID: String
}
