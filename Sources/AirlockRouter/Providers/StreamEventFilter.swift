#if canImport(Glibc)
import Glibc
#endif
import AirlockJSON
import NIOCore

/// What the router changes in a server-sent-events stream on its way to the agent, one whole event at a time:
///
/// - **Usage the agent did not ask for.** To account, the router asks an OpenAI chat-completions stream for
///   usage (`stream_options.include_usage`). The provider then adds `"usage":null` to every chunk and a last
///   chunk whose `choices` is empty. When the agent did not ask for usage itself, both are taken out, so it gets
///   the bytes the provider sends for its own request (code that reads `chunk.choices[0]` keeps working).
/// - **The end of the stream waits for the receipt.** The event that tells an SDK the answer is complete (`data:
///   [DONE]`, Anthropic's `message_stop`, the Responses API's `response.completed`, `.failed`, `.incomplete`) and
///   everything after it are held back; the request path releases them once the completion receipt is appended,
///   or drops them (the agent sees a cut stream) when it cannot be.
///
/// Events are found by their blank-line terminator across arbitrary read boundaries. An event larger than
/// `maxEvent` is passed on as it stands, unexamined, so memory stays bounded; what an upstream sends after the
/// final event is held only up to `maxEvent` in all, and the rest is dropped (an SDK stops reading at the final
/// event anyway).
struct StreamEventFilter: Sendable {
    let endpoint: Endpoint
    /// Remove the usage chunk and the `"usage":null` members (chat completions, when only the router asked).
    let dropInjectedUsage: Bool
    static let maxEvent = 1 << 20

    private var pending: [UInt8] = []
    /// Where the scan for the blank line that ends the pending event resumes, and where its current line began.
    private var scanned = 0
    private var lineStart = 0
    /// The final event and anything after it, held until the completion receipt is durable.
    private(set) var held: [UInt8] = []
    private var holding = false

    init(endpoint: Endpoint, dropInjectedUsage: Bool) {
        self.endpoint = endpoint
        self.dropInjectedUsage = dropInjectedUsage
    }

    /// Takes the next bytes of the stream; appends to `out` what may go to the agent now.
    mutating func feed(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        if holding {
            hold(bytes)
            return
        }
        pending.append(contentsOf: bytes)
        // Every complete event in the buffer is handled, then the buffer is cut once.
        var consumed = 0
        while let newline = pending[scanned...].firstIndex(of: 0x0A) {
            scanned = newline + 1
            let length = newline - lineStart
            let empty = length == 0 || (length == 1 && pending[lineStart] == 0x0D)
            lineStart = scanned
            guard empty else { continue }
            process(pending[consumed..<scanned], into: &out)
            consumed = scanned
            if holding {
                pending[consumed...].withUnsafeBytes { hold($0) }
                pending = []
                scanned = 0
                lineStart = 0
                return
            }
        }
        if consumed > 0 {
            pending.removeFirst(consumed)
            scanned -= consumed
            lineStart -= consumed
        }
        if pending.count > Self.maxEvent {
            out.append(contentsOf: pending)
            pending = []
            scanned = 0
            lineStart = 0
        }
    }

    /// The end of the body: a last event without its blank line is examined like any other.
    mutating func finish(into out: inout [UInt8]) {
        guard !pending.isEmpty else { return }
        let rest = pending
        pending = []
        scanned = 0
        lineStart = 0
        process(rest[...], into: &out)
    }

    /// Keeps bytes that come after the final event, up to `maxEvent` held in all.
    private mutating func hold(_ bytes: UnsafeRawBufferPointer) {
        let room = max(0, Self.maxEvent - held.count)
        held.append(contentsOf: bytes.prefix(room))
    }

    private mutating func process(_ event: ArraySlice<UInt8>, into out: inout [UInt8]) {
        if holding {
            event.withUnsafeBytes { hold($0) }
            return
        }
        // The event's name and its data (a single `data:` line is all the providers send; with several lines
        // the event is only checked for being final, never rewritten).
        var name: ArraySlice<UInt8> = []
        var data: Range<Int>?
        var dataLines = 0
        var start = event.startIndex
        while start < event.endIndex {
            var end = event[start...].firstIndex(of: 0x0A) ?? event.endIndex
            let next = end < event.endIndex ? end + 1 : end
            if end > start && event[end - 1] == 0x0D { end -= 1 }
            let line = event[start..<end]
            if line.starts(with: Self.eventField) {
                name = Self.fieldValue(line, prefix: Self.eventField.count)
            } else if line.starts(with: Self.dataField) {
                dataLines += 1
                let value = Self.fieldValue(line, prefix: Self.dataField.count)
                data = value.startIndex..<value.endIndex
            }
            start = next
        }
        let payload = data.map { event[$0] } ?? []
        if isFinal(name: name, payload: payload) {
            holding = true
            event.withUnsafeBytes { hold($0) }
            return
        }
        // Only a chunk that names usage can need a change; the rest pass without being parsed.
        guard dropInjectedUsage, dataLines == 1, let data, payload.first == UInt8(ascii: "{"),
            Self.contains(payload, Self.usageKey)
        else {
            out.append(contentsOf: event)
            return
        }
        let scanner = JSONScanner(Array(payload))
        guard let root = try? scanner.validateDocument(), root.kind == .object else {
            out.append(contentsOf: event)
            return
        }
        let members = scanner.members(of: root)
        guard let index = members.firstIndex(where: { scanner.keyEquals($0.key, "usage") }) else {
            out.append(contentsOf: event)
            return
        }
        let usage = members[index].value
        if usage.kind == .object, let choices = scanner.value(of: root, key: "choices"), choices.kind == .array,
            scanner.elements(of: choices).isEmpty
        {
            return  // the chunk only the router asked for
        }
        guard usage.kind == .null else {
            out.append(contentsOf: event)
            return
        }
        // Cut the member with the comma that joins it to its neighbour.
        let cut: Range<Int>
        if index > 0 {
            cut = members[index - 1].value.end..<usage.end
        } else if members.count > 1 {
            cut = members[index].key.start..<members[1].key.start
        } else {
            cut = members[index].key.start..<usage.end
        }
        let base = data.lowerBound
        out.append(contentsOf: event[event.startIndex..<(base + cut.lowerBound)])
        out.append(contentsOf: event[(base + cut.upperBound)...])
    }

    private func isFinal(name: ArraySlice<UInt8>, payload: ArraySlice<UInt8>) -> Bool {
        switch endpoint {
        case .chatCompletions:
            return payload.elementsEqual("[DONE]".utf8)
        case .messages:
            return name.elementsEqual("message_stop".utf8) || (name.isEmpty && Self.type(of: payload) == "message_stop")
        case .responses:
            let type = name.isEmpty ? Self.type(of: payload) : String(decoding: name, as: UTF8.self)
            return type == "response.completed" || type == "response.failed" || type == "response.incomplete"
        case .embeddings, .countTokens, .models, .model:
            return false
        }
    }

    private static func type(of payload: ArraySlice<UInt8>) -> String? {
        guard payload.first == UInt8(ascii: "{") else { return nil }
        let scanner = JSONScanner(Array(payload))
        guard let root = try? scanner.validateDocument(), root.kind == .object else { return nil }
        return scanner.value(of: root, key: "type").flatMap(scanner.string)
    }

    private static let usageKey = Array("\"usage\"".utf8)

    static func contains(_ haystack: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        var i = haystack.startIndex
        let last = haystack.endIndex - needle.count
        while i <= last {
            guard let first = haystack[i...last].firstIndex(of: needle[0]) else { return false }
            if haystack[first..<(first + needle.count)].elementsEqual(needle) { return true }
            i = first + 1
        }
        return false
    }

    private static let eventField = Array("event:".utf8)
    private static let dataField = Array("data:".utf8)

    /// A field's value: after the colon, without one leading space.
    private static func fieldValue(_ line: ArraySlice<UInt8>, prefix: Int) -> ArraySlice<UInt8> {
        var value = line.dropFirst(prefix)
        if value.first == 0x20 { value = value.dropFirst() }
        return value
    }
}

/// An event stream's lines may end in CRLF, LF or CR alone (the server-sent-events format); the router's readers
/// of a stream (StreamEventFilter, SSEDataStream) split on LF. Every line end becomes one LF before they see the
/// bytes, and the agent gets the same, which any conforming client reads as the same events: without it, a stream
/// of CR-ended lines passed every event unexamined, the usage the router asked for and the final event included.
/// A CRLF split across reads is one line end.
struct SSELineEndings: Sendable {
    private var afterCR = false

    /// The chunk with its line ends made LF, or nil when it needs no change.
    mutating func normalize(_ chunk: ByteBuffer) -> ByteBuffer? {
        chunk.withUnsafeReadableBytes { bytes -> ByteBuffer? in
            guard let base = bytes.baseAddress, !bytes.isEmpty else { return nil }
            if !afterCR && memchr(base, 0x0D, bytes.count) == nil { return nil }
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count)
            for byte in bytes {
                switch byte {
                case 0x0D:
                    out.append(0x0A)
                    afterCR = true
                case 0x0A where afterCR:
                    afterCR = false
                default:
                    out.append(byte)
                    afterCR = false
                }
            }
            return ByteBuffer(bytes: out)
        }
    }
}

