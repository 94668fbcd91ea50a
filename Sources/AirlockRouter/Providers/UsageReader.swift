import AirlockJSON

/// Token counts reported by an upstream.
public struct Usage: Sendable, Equatable {
    public var input: Int
    public var output: Int

    public init(input: Int = 0, output: Int = 0) {
        self.input = input
        self.output = output
    }

    /// Never traps: both parts are bounded by `maxPerRequest` where they are read.
    public var total: Int { input.addingSaturating(output) }

    /// More tokens than any single request can use (context windows and output caps are far below it). A
    /// usage value outside `0...maxPerRequest` is an upstream protocol error, charged as this much.
    public static let maxPerRequest = 100_000_000
}

extension Int {
    /// `self + other`, clamped to `Int.min...Int.max` instead of trapping.
    func addingSaturating(_ other: Int) -> Int {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}

/// Reads usage from a response body, streamed (SSE) or whole, by the API shape of the endpoint.
struct UsageReader: Sendable {
    let endpoint: Endpoint
    private(set) var usage: Usage?
    /// The upstream reported a usage value outside `0...Usage.maxPerRequest` (or not an integer where a count
    /// belongs): `usage` is then the most one request can cost.
    private(set) var invalid = false
    private var sse = SSELineBuffer()
    private var whole: [UInt8] = []
    private var wholeOverflow = false
    private let streaming: Bool

    private static let usageKey = Array("\"usage\"".utf8)

    /// Bodies larger than this are not kept for usage parsing (the usage is then unknown).
    static let maxWholeBody = 8 << 20

    init(endpoint: Endpoint, streaming: Bool) {
        self.endpoint = endpoint
        self.streaming = streaming
    }

    mutating func consume(_ bytes: UnsafeRawBufferPointer) {
        if streaming {
            var events: [[UInt8]] = []
            sse.feed(bytes) { events.append($0) }
            for data in events { readEvent(data) }
        } else if !wholeOverflow {
            if whole.count + bytes.count > Self.maxWholeBody {
                wholeOverflow = true
                whole = []
            } else {
                whole.append(contentsOf: bytes)
            }
        }
    }

    /// Call at the end of the body.
    mutating func finish() {
        guard !streaming, !wholeOverflow else { return }
        let scanner = JSONScanner(whole)
        guard let root = try? scanner.validateDocument(), root.kind == .object,
            let usageSpan = scanner.value(of: root, key: "usage"), usageSpan.kind != .null
        else { return }
        // A usage that is not an object (a string, a number) is no reading at all, not a reading of zero.
        record(usageSpan.kind == .object ? Self.read(usageSpan, in: scanner, endpoint: endpoint) : nil)
    }

    /// Keeps a reading, or marks the usage invalid once any reading was.
    private mutating func record(_ read: Usage?) {
        if invalid { return }
        guard let read else {
            invalid = true
            usage = Usage(input: Usage.maxPerRequest, output: 0)
            return
        }
        usage = read
    }

    private mutating func readEvent(_ data: [UInt8]) {
        // Most events carry no usage: only those that name it are parsed.
        guard data.first == UInt8(ascii: "{"), StreamEventFilter.contains(data[...], Self.usageKey) else { return }
        let scanner = JSONScanner(data)
        guard let root = try? scanner.validateDocument(), root.kind == .object else { return }
        switch endpoint {
        case .chatCompletions:
            if let span = scanner.value(of: root, key: "usage"), span.kind == .object {
                record(Self.read(span, in: scanner, endpoint: endpoint))
            }
        case .responses:
            if let span = scanner.value(at: ["response", "usage"], in: root), span.kind == .object {
                record(Self.read(span, in: scanner, endpoint: endpoint))
            }
        case .messages:
            // message_start carries input tokens; each message_delta carries cumulative output tokens.
            let span = scanner.value(at: ["message", "usage"], in: root) ?? scanner.value(of: root, key: "usage")
            if let span, span.kind == .object, !invalid {
                guard let read = Self.read(span, in: scanner, endpoint: endpoint) else {
                    record(nil)
                    return
                }
                var current = usage ?? Usage()
                current.input = max(current.input, read.input)
                current.output = max(current.output, read.output)
                usage = current
            }
        case .embeddings, .countTokens, .models, .model:
            break
        }
    }

    /// The usage in `span`, or nil when a count is out of `0...Usage.maxPerRequest`, is not an integer, or the
    /// parts add up beyond that bound. A missing count is 0.
    private static func read(_ span: JSONScanner.Span, in scanner: JSONScanner, endpoint: Endpoint) -> Usage? {
        var bad = false
        func int(_ key: String) -> Int {
            guard let value = scanner.value(of: span, key: key), value.kind != .null else { return 0 }
            guard let number = scanner.integer(value), (0...Usage.maxPerRequest).contains(number) else {
                bad = true
                return 0
            }
            return number
        }
        let usage: Usage
        switch endpoint {
        case .chatCompletions, .embeddings:
            usage = Usage(input: int("prompt_tokens"), output: int("completion_tokens"))
        case .responses, .messages:
            var input = int("input_tokens")
            if endpoint == .messages {
                input += int("cache_creation_input_tokens") + int("cache_read_input_tokens")
            }
            usage = Usage(input: input, output: int("output_tokens"))
        case .countTokens, .models, .model:
            usage = Usage()
        }
        // Each part is at most maxPerRequest, so these sums cannot overflow.
        guard !bad, usage.input + usage.output <= Usage.maxPerRequest else { return nil }
        return usage
    }
}

/// Splits a server-sent-events byte stream into the `data` payload of each event (multi-line data joined
/// with newlines), across arbitrary chunk boundaries. Lines are bounded; an over-long line is skipped.
struct SSELineBuffer: Sendable {
    static let maxLine = 4 << 20
    /// The data of one event, all its lines together: an event past this is dropped whole (never parsed), so an
    /// upstream that never sends the blank line cannot grow the buffer.
    static let maxEvent = 4 << 20
    private var line: [UInt8] = []
    private var skipping = false
    private var data: [UInt8] = []
    private var hasData = false
    private var droppingEvent = false

    /// What is buffered now: the current line and the current event's data.
    var bufferedBytes: Int { line.count + data.count }

    mutating func feed(_ bytes: UnsafeRawBufferPointer, onEvent: ([UInt8]) -> Void) {
        for byte in bytes {
            if byte == 0x0A {
                if !skipping { handleLine(onEvent: onEvent) }
                line.removeAll(keepingCapacity: true)
                skipping = false
            } else if !skipping {
                if line.count >= Self.maxLine {
                    skipping = true
                    line.removeAll()
                } else {
                    line.append(byte)
                }
            }
        }
    }

    private mutating func handleLine(onEvent: ([UInt8]) -> Void) {
        if line.last == 0x0D { line.removeLast() }
        if line.isEmpty {
            if hasData && !droppingEvent { onEvent(data) }
            data.removeAll(keepingCapacity: true)
            hasData = false
            droppingEvent = false
            return
        }
        guard !droppingEvent else { return }
        guard line.starts(with: "data:".utf8) else { return }
        var payload = line.dropFirst(5)
        if payload.first == 0x20 { payload = payload.dropFirst() }
        if data.count + payload.count + 1 > Self.maxEvent {
            droppingEvent = true
            data = []
            return
        }
        if hasData { data.append(0x0A) }
        data.append(contentsOf: payload)
        hasData = true
    }
}
