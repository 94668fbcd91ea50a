/// A document that is not strict RFC 8259 JSON: the byte offset where reading stopped and what was wrong there.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Bytes from the start of the document.
    public var offset: Int
    public var message: String
    /// The member name an object has twice, when that is the error.
    public var duplicateName: String?

    public init(offset: Int, message: String, duplicateName: String? = nil) {
        self.offset = offset
        self.message = message
        self.duplicateName = duplicateName
    }

    public var description: String { "byte \(offset): \(message)" }
}

/// A place in a document as a person finds it in an editor: 1-based line and column (in bytes).
public struct JSONLocation: Sendable, Equatable {
    public var line: Int
    public var column: Int

    /// The location of `offset` in `bytes`.
    public init(of offset: Int, in bytes: [UInt8]) {
        var tracker = LineTracker(bytes)
        self = tracker.location(of: offset)
    }

    init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }
}

/// Line and column of increasing offsets in one pass over the document. Raw line feeds occur only in whitespace
/// (a string may not hold one unescaped), so every 0x0A before an offset ends a line.
struct LineTracker {
    private let bytes: [UInt8]
    private var offset = 0
    private var line = 1
    private var lineStart = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func location(of target: Int) -> JSONLocation {
        if target < offset { self = LineTracker(bytes) }
        let end = min(target, bytes.count)
        while offset < end {
            if bytes[offset] == 0x0A {
                line += 1
                lineStart = offset + 1
            }
            offset += 1
        }
        return JSONLocation(line: line, column: target - lineStart + 1)
    }
}
