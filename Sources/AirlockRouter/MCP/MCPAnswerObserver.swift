import AirlockJSON
import AirlockReceipts
import NIOCore

/// Watches an MCP server's answer on its way to the agent (on the agent connection's event loop): digests what the
/// agent is given, filters a `tools/list` result to the sandbox's tools, and finds the JSON-RPC response in the answer
/// (for `isError`, and to know the agent had its answer when it closes an event stream early, as SDKs do).
///
/// Answers are `application/json` (one message) or `text/event-stream` (messages as `data:` of events). A list
/// answer is rewritten a whole message at a time: JSON held to its end, events to their blank line, each at most
/// `cap` bytes; past that the answer is cut (`overflowed`). Every other answer passes chunk by chunk, unchanged.
final class MCPAnswerObserver: UpstreamBodyObserver, @unchecked Sendable {
    let eventStream: Bool
    /// For a `tools/list` answer: which tools the agent may see, by name and definition digest.
    let keep: ((String, String) -> Bool)?
    let cap: Int
    var digest: BodyHasher?
    /// Tools listed (name, digest), in order.
    private(set) var listed: [(name: String, digest: String)] = []
    private(set) var overflowed = false
    /// A `tools/list` answer carried a message the router could not read as JSON (duplicate members, bad UTF-8, a
    /// torn document): it was not passed on, since what an SDK makes of it may be a list the policy never saw.
    private(set) var unreadable = false
    /// An event stream's line ends, each made LF before the events are read (see SSELineEndings).
    private var lineEndings = SSELineEndings()
    /// The JSON-RPC response the answer carried (an event's data, or the whole JSON body), once it has passed.
    private(set) var response: [UInt8]?
    /// Bytes not yet taken: a list answer being rewritten, or events being watched for the response.
    private var pending: [UInt8] = []
    private var pendingLost = false
    /// A JSON answer to a call is kept (up to `cap`) to read `isError` from.
    private let keepsCopy: Bool

    init(eventStream: Bool, keep: ((String, String) -> Bool)?, keepsCopy: Bool, cap: Int, digest: BodyHasher?) {
        self.eventStream = eventStream
        self.keep = keep
        self.keepsCopy = keepsCopy
        self.cap = cap
        self.digest = digest
    }

    /// Whether the agent has been given the response (an event stream may go on, or be closed, after it).
    var answered: Bool { response != nil }

    func pass(_ chunk: ByteBuffer) -> ByteBuffer? {
        var chunk = chunk
        if eventStream, let normalized = lineEndings.normalize(chunk) { chunk = normalized }
        guard keep != nil else {
            chunk.withUnsafeReadableBytes { digest?.update($0) }
            watch(chunk)
            return chunk
        }
        if overflowed { return nil }
        pending.append(contentsOf: chunk.readableBytesView)
        var out: [UInt8] = []
        if eventStream {
            var events = SSEEvents(pending)
            while let event = events.next() {
                rewrite(event, into: &out)
            }
            pending.removeFirst(events.consumed)
        }
        if pending.count > cap {
            overflowed = true
            pending = []
        }
        return emit(out)
    }

    func finish() -> ByteBuffer? {
        if keep == nil {
            if !pendingLost && !pending.isEmpty {
                note(eventStream ? SSEEvents.Event(pending[...]).data : pending)
            }
            pending = []
            return nil
        }
        guard !overflowed, !pending.isEmpty else { return nil }
        var out: [UInt8] = []
        if eventStream {
            rewrite(SSEEvents.Event(pending[...]), into: &out)
        } else {
            out = filtered(pending) ?? []
        }
        pending = []
        return emit(out)
    }

    /// For a `tools/call` answer: whether its result says `isError` (1 or 0); nil when there is no result to read
    /// (an error answer, a cut or overlong one).
    func isError() -> Int64? {
        guard let response else { return nil }
        let scanner = JSONScanner(response)
        guard let root = try? scanner.validateDocument(), let result = scanner.value(of: root, key: "result"),
            result.kind == .object
        else { return nil }
        return scanner.value(of: result, key: "isError").flatMap(scanner.bool) == true ? 1 : 0
    }

    /// An answer passed unchanged is still read for its response: events as they complete (each up to `cap`), a
    /// JSON body of a call whole (up to `cap`) at its end.
    private func watch(_ chunk: ByteBuffer) {
        guard !pendingLost, response == nil, eventStream || keepsCopy else { return }
        pending.append(contentsOf: chunk.readableBytesView)
        if eventStream {
            var events = SSEEvents(pending)
            while response == nil, let event = events.next() {
                note(event.data)
            }
            pending.removeFirst(events.consumed)
            if response != nil { pending = [] }
        }
        if pending.count > cap {
            pendingLost = true
            pending = []
        }
    }

    /// Keeps `message` as the answer's response if it is one: an object with an id and a result or an error.
    private func note(_ message: [UInt8]) {
        guard response == nil, message.first == UInt8(ascii: "{") else { return }
        let scanner = JSONScanner(message)
        guard let root = try? scanner.validateDocument(), root.kind == .object,
            scanner.value(of: root, key: "id") != nil,
            scanner.value(of: root, key: "method") == nil,
            scanner.value(of: root, key: "result") != nil || scanner.value(of: root, key: "error") != nil
        else { return }
        response = message
    }

    /// The message with the tools the sandbox may not see taken out; nil when it cannot be read (then withheld).
    private func filtered(_ message: [UInt8]) -> [UInt8]? {
        note(message)
        guard let keep else { return message }
        guard (try? JSONScanner(message).validateDocument()) != nil else {
            unreadable = true
            return nil
        }
        guard let result = ToolDefinitions.filter(message, keep: keep) else { return message }
        listed.append(contentsOf: result.listed)
        return result.message
    }

    /// An event with its data filtered, written back with `\n` line ends; its other fields are kept as they were.
    private func rewrite(_ event: SSEEvents.Event, into out: inout [UInt8]) {
        var data: [UInt8]?
        if event.hasData {
            // An event whose data cannot be read is withheld whole.
            guard let readable = filtered(event.data) else { return }
            data = readable
        }
        for line in event.otherLines {
            out.append(contentsOf: line)
            out.append(0x0A)
        }
        if let data {
            for line in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
                out.append(contentsOf: "data: ".utf8)
                out.append(contentsOf: line)
                out.append(0x0A)
            }
        }
        out.append(0x0A)
    }

    private func emit(_ out: [UInt8]) -> ByteBuffer? {
        guard !out.isEmpty else { return nil }
        digest?.update(out)
        return ByteBuffer(bytes: out)
    }
}

/// The complete events at the start of a server-sent-events buffer (lines end in LF or CRLF; an event ends at a
/// blank line).
struct SSEEvents {
    struct Event {
        /// Lines other than `data:` ones (`event:`, `id:`, `retry:`, comments), without their line end.
        var otherLines: [ArraySlice<UInt8>] = []
        /// The `data:` lines' values joined with LF.
        var data: [UInt8] = []
        var hasData = false

        init(_ bytes: ArraySlice<UInt8>) {
            for var line in bytes.split(separator: 0x0A, omittingEmptySubsequences: true) {
                if line.last == 0x0D { line = line.dropLast() }
                if line.isEmpty { continue }
                if line.starts(with: "data:".utf8) {
                    var value = line.dropFirst(5)
                    if value.first == 0x20 { value = value.dropFirst() }
                    if hasData { data.append(0x0A) }
                    data.append(contentsOf: value)
                    hasData = true
                } else {
                    otherLines.append(line)
                }
            }
        }
    }

    private let bytes: [UInt8]
    /// Bytes of the buffer taken by the events returned so far.
    private(set) var consumed = 0
    private var lineStart = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func next() -> Event? {
        var i = lineStart
        while let newline = bytes[i...].firstIndex(of: 0x0A) {
            let length = newline - lineStart
            let blank = length == 0 || (length == 1 && bytes[lineStart] == 0x0D)
            i = newline + 1
            lineStart = i
            if blank {
                let event = Event(bytes[consumed..<i])
                consumed = i
                return event
            }
        }
        return nil
    }
}
