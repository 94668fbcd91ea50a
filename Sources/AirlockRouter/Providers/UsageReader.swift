import AirlockJSON
#if canImport(Glibc)
import Glibc
#endif

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

/// Reads usage from a response body, streamed (SSE) or whole, by the API shape of the endpoint. Both are read as
/// they pass, in constant memory: the usage member is found wherever it is (`JSONMemberStream`), in a whole body or
/// in an event of any size (the Responses API's final event carries the whole response), never by keeping a prefix.
struct UsageReader: Sendable {
    let endpoint: Endpoint
    private(set) var usage: Usage?
    /// The upstream reported a usage value outside `0...Usage.maxPerRequest` (or not an integer where a count
    /// belongs): `usage` is then the most one request can cost.
    private(set) var invalid = false
    private let streaming: Bool
    /// Finders for the members where this endpoint's usage is, first found first taken: in a whole body, or in
    /// each event.
    private var members: [JSONMemberStream]
    private var events = SSEDataStream()

    /// The most a usage object may take: far beyond any real one, so a value past it is no reading.
    static let maxUsageValue = 64 << 10

    /// The finders of each kind of answer, built once; a reader starts from a copy.
    private static let wholeMembers = [JSONMemberStream(path: ["usage"], maxValue: maxUsageValue)]
    private static let responsesMembers = [JSONMemberStream(path: ["response", "usage"], maxValue: maxUsageValue)]
    /// message_start carries the input tokens in message.usage; each message_delta cumulative output in usage.
    private static let messagesMembers = [
        JSONMemberStream(path: ["message", "usage"], maxValue: maxUsageValue),
        JSONMemberStream(path: ["usage"], maxValue: maxUsageValue),
    ]

    init(endpoint: Endpoint, streaming: Bool) {
        self.endpoint = endpoint
        self.streaming = streaming
        switch (endpoint, streaming) {
        case (.responses, true): members = Self.responsesMembers
        case (.messages, true): members = Self.messagesMembers
        default: members = Self.wholeMembers
        }
    }

    mutating func consume(_ bytes: UnsafeRawBufferPointer) {
        guard streaming else {
            for i in members.indices { members[i].feed(bytes) }
            return
        }
        var stream = events
        stream.feed(bytes) { part in
            switch part {
            case .data(let chunk):
                for i in members.indices { members[i].feed(chunk) }
            case .end:
                readEvent()
            }
        }
        events = stream
    }

    /// Call at the end of the body.
    mutating func finish() {
        guard !streaming else { return }
        // A body that did not end as a document, or names usage twice, has no usage to read.
        guard case .found(let bytes) = members[0].outcome else { return }
        readValue(bytes, whole: true)
    }

    /// Reads the usage the event that just ended carried, and starts over for the next one.
    private mutating func readEvent() {
        var found: [UInt8]?
        for i in members.indices {
            if found == nil, case .found(let bytes) = members[i].outcome { found = bytes }
            members[i].reset()
        }
        if let found { readValue(found, whole: false) }
    }

    private mutating func readValue(_ bytes: [UInt8], whole: Bool) {
        let scanner = JSONScanner(bytes)
        guard let span = try? scanner.validateDocument(), span.kind != .null else { return }
        // A usage that is not an object (a string, a number) is no reading at all, not a reading of zero.
        guard span.kind == .object else {
            if whole { record(nil) }
            return
        }
        if endpoint == .messages && streaming {
            guard !invalid else { return }
            guard let read = Self.read(span, in: scanner, endpoint: endpoint) else {
                record(nil)
                return
            }
            var current = usage ?? Usage()
            current.input = max(current.input, read.input)
            current.output = max(current.output, read.output)
            usage = current
        } else {
            record(Self.read(span, in: scanner, endpoint: endpoint))
        }
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

/// Splits a server-sent-events byte stream into each event's `data` (its lines joined by a newline), handed on as
/// it arrives, and each event's end, across arbitrary chunk boundaries. It holds nothing but a field name, so an
/// event of any size passes in constant memory. Lines end with LF; a CR before it is whitespace to JSON.
struct SSEDataStream: Sendable {
    enum Part {
        case data(UnsafeRawBufferPointer)
        case end
    }

    private enum State { case lineStart, field, valueStart, value, skip }
    private var state = State.lineStart
    private var field: [UInt8] = []
    private var eventHasData = false
    private static let dataField = Array("data".utf8)
    private static let newline: [UInt8] = [0x0A]

    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ onPart: (Part) -> Void) {
        guard let base = bytes.baseAddress else { return }
        var runStart = -1
        var i = 0
        while i < bytes.count {
            if state == .value {
                // The rest of a data line goes on in one piece: find its end rather than step to it.
                if runStart < 0 { runStart = i }
                guard let hit = memchr(base + i, 0x0A, bytes.count - i) else {
                    i = bytes.count
                    break
                }
                i = UnsafeRawPointer(hit) - base
            }
            let byte = bytes[i]
            defer { i += 1 }
            switch state {
            case .lineStart:
                if byte == 0x0A {
                    if eventHasData { onPart(.end) }
                    eventHasData = false
                } else if byte != 0x0D {
                    field.removeAll(keepingCapacity: true)
                    field.append(byte)
                    state = byte == UInt8(ascii: ":") ? .skip : .field
                }
            case .field:
                if byte == UInt8(ascii: ":") || byte == 0x0A {
                    if field == Self.dataField {
                        if eventHasData { Self.newline.withUnsafeBytes { onPart(.data($0)) } }
                        eventHasData = true
                    }
                    state = byte == 0x0A ? .lineStart : (field == Self.dataField ? .valueStart : .skip)
                } else if byte != 0x0D {
                    if field.count < Self.dataField.count + 1 { field.append(byte) } else { state = .skip }
                }
            case .valueStart, .value:
                if byte == 0x0A {
                    if runStart >= 0 { onPart(.data(UnsafeRawBufferPointer(rebasing: bytes[runStart..<i]))) }
                    runStart = -1
                    state = .lineStart
                } else if state == .valueStart {
                    state = .value
                    if byte != 0x20 { runStart = i }
                } else if runStart < 0 {
                    runStart = i
                }
            case .skip:
                if byte == 0x0A { state = .lineStart }
            }
        }
        if runStart >= 0 { onPart(.data(UnsafeRawBufferPointer(rebasing: bytes[runStart...]))) }
    }
}
