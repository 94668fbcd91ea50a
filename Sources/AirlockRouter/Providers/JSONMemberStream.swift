import AirlockJSON
#if canImport(Glibc)
import Glibc
#endif

/// Finds one member of a JSON document by its path of member names (`["usage"]`, `["response", "usage"]`) while the
/// document streams past, holding only that member's value (bounded) and one member name at a time. Nothing before
/// or after it is kept, so a response of any size is read in constant memory wherever the provider put the member.
///
/// It follows only the document's structure (strings, escapes, nesting); the captured value itself is then read by
/// the project's JSON reader. A document that does not end, closes more than it opened, carries anything but
/// whitespace after its end, names a member on the path twice, or holds a value past `maxValue` is `unreadable`.
struct JSONMemberStream: Sendable {
    enum Outcome: Equatable {
        /// The document is whole and has no such member (or its root is not an object).
        case absent
        /// The member's value, exactly as it appeared (surrounding whitespace included).
        case found([UInt8])
        case unreadable
    }

    private let path: [[UInt8]]
    private let maxValue: Int
    /// Longest member name compared (escapes included); a longer one cannot be on the path.
    private let maxName: Int

    /// Where the scan is; `reset()` starts it over for the next document.
    private var depth = 0
    private var started = false
    /// The root is a string, number or literal: there is no member to find.
    private var scalarRoot = false
    private var rootIsObject = false
    private var ended = false
    private var failed = false
    private var inString = false
    private var escaped = false
    /// How many names of `path` the objects the scan is inside now matched; member names are compared at depth
    /// `matched + 1` only.
    private var matched = 0
    /// The next string at depth `matched + 1` is a member name.
    private var nameNext = false
    private var readingName = false
    private var name: [UInt8] = []
    private var nameTooLong = false
    private var awaitingColon = false
    /// The name just read matched `path[matched]` and is not the last: an object value is entered.
    private var descend = false
    /// The name just read is the last of `path`: its value is captured after the colon.
    private var captureNext = false
    private var capturing = false
    private var value: [UInt8] = []
    private var found = false
    /// Bit `level` is set once a name on the path at that level was seen: a second one makes the document
    /// ambiguous.
    private var seen: UInt64 = 0

    init(path: [String], maxValue: Int) {
        precondition(!path.isEmpty && path.count <= 64)
        self.path = path.map { Array($0.utf8) }
        self.maxValue = maxValue
        self.maxName = (self.path.map(\.count).max() ?? 0) * 6 + 16
    }

    /// Starts over for the next document (each event of a stream), keeping the path and the buffers' capacity.
    mutating func reset() {
        depth = 0
        started = false
        scalarRoot = false
        rootIsObject = false
        ended = false
        failed = false
        inString = false
        escaped = false
        matched = 0
        nameNext = false
        readingName = false
        name.removeAll(keepingCapacity: true)
        nameTooLong = false
        awaitingColon = false
        descend = false
        captureNext = false
        capturing = false
        value.removeAll(keepingCapacity: true)
        found = false
        seen = 0
    }

    var outcome: Outcome {
        if scalarRoot { return .absent }
        if failed || !ended { return .unreadable }
        return found ? .found(value) : .absent
    }

    mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        let count = bytes.count
        // Where the next quote and backslash are, found once each and again only once passed: the content of
        // strings (nearly all of a large answer) is skipped in runs, not stepped through byte by byte.
        var nextQuote = -1
        var nextBackslash = -1
        func find(_ byte: UInt8, from i: Int) -> Int {
            guard let hit = memchr(base + i, Int32(byte), count - i) else { return count }
            return UnsafeRawPointer(hit) - base
        }
        var i = 0
        while i < count && !failed {
            if inString && !escaped {
                if nextQuote < i { nextQuote = find(UInt8(ascii: "\""), from: i) }
                if nextBackslash < i { nextBackslash = find(UInt8(ascii: "\\"), from: i) }
                let stop = min(nextQuote, nextBackslash)
                if stop > i {
                    let run = UnsafeRawBufferPointer(rebasing: bytes[i..<stop])
                    if capturing {
                        guard value.count + run.count <= maxValue else {
                            failed = true
                            return
                        }
                        value.append(contentsOf: run)
                    } else if readingName {
                        if name.count + run.count <= maxName { name.append(contentsOf: run) } else { nameTooLong = true }
                    }
                    i = stop
                    continue
                }
            }
            step(bytes[i])
            i += 1
        }
    }

    mutating func feed(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            if failed { return }
            step(byte)
        }
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    private mutating func step(_ byte: UInt8) {
        if scalarRoot { return }
        if ended {
            if !Self.isWhitespace(byte) { failed = true }
            return
        }
        if capturing {
            if !inString && depth == path.count && (byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}")) {
                capturing = false
                found = true
            } else if value.count < maxValue {
                value.append(byte)
            } else {
                failed = true
                return
            }
        }
        if inString {
            if escaped {
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == UInt8(ascii: "\"") {
                inString = false
                if readingName {
                    readingName = false
                    nameEnded()
                }
                return
            }
            if readingName {
                if name.count < maxName { name.append(byte) } else { nameTooLong = true }
            }
            return
        }
        if Self.isWhitespace(byte) { return }
        if !started {
            started = true
            guard byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") else {
                scalarRoot = true
                return
            }
            rootIsObject = byte == UInt8(ascii: "{")
        }
        if awaitingColon {
            awaitingColon = false
            guard byte == UInt8(ascii: ":") else {
                failed = true
                return
            }
            if captureNext {
                captureNext = false
                capturing = true
            }
            return
        }
        let entering = descend
        descend = false
        switch byte {
        case UInt8(ascii: "\""):
            inString = true
            if nameNext {
                nameNext = false
                readingName = true
                name.removeAll(keepingCapacity: true)
                nameTooLong = false
            }
        case UInt8(ascii: "{"):
            depth += 1
            if entering { matched += 1 }
            // Names are read in the root object and in each object entered along the path.
            nameNext = depth == matched + 1 && (depth > 1 || rootIsObject)
        case UInt8(ascii: "["):
            depth += 1
            nameNext = false
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            guard depth > 0 else {
                failed = true
                return
            }
            depth -= 1
            matched = min(matched, max(0, depth - 1))
            nameNext = false
            if depth == 0 { ended = true }
        case UInt8(ascii: ","):
            nameNext = depth == matched + 1 && (depth > 1 || rootIsObject)
        default:
            nameNext = false
        }
    }

    private mutating func nameEnded() {
        awaitingColon = true
        guard !nameTooLong else { return }
        let decoded: [UInt8]
        if name.contains(UInt8(ascii: "\\")) {
            let scanner = JSONScanner([UInt8(ascii: "\"")] + name + [UInt8(ascii: "\"")])
            guard let span = try? scanner.validateDocument(), let text = scanner.string(span) else {
                failed = true
                return
            }
            decoded = Array(text.utf8)
        } else {
            decoded = name
        }
        let level = matched
        guard decoded == path[level] else { return }
        let bit: UInt64 = 1 << UInt64(level)
        if seen & bit != 0 {
            failed = true
            return
        }
        seen |= bit
        if level == path.count - 1 { captureNext = true } else { descend = true }
    }
}
