/// JSON that could not be read, or a value of the wrong shape: where (byte offset, line, column and, for a value,
/// its path) and what was expected.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    /// Bytes from the start of the document.
    public var offset: Int
    public var line: Int
    public var column: Int
    /// The value's path ("limits.processes", "syscalls[3].args[0].op") when the error is about a value rather
    /// than the syntax; empty for the top level.
    public var path: String?

    public init(message: String, offset: Int, line: Int, column: Int, path: String? = nil) {
        self.message = message
        self.offset = offset
        self.line = line
        self.column = column
        self.path = path
    }

    public var description: String {
        guard let path else { return "line \(line), column \(column): \(message)" }
        return "at \(path.isEmpty ? "top level" : path) (line \(line), column \(column)): \(message)"
    }
}
