/// The value-tree reading of ``JSONScanner``: the same strict RFC 8259 rules, and errors that name the byte
/// offset, line and column. For the launcher's own files (policies, seccomp profiles) and receipt records.
public enum JSONReader {
    /// Nesting deeper than this is refused rather than risking the stack; real profiles nest five levels.
    public static let maxDepth = JSONScanner.maxDepth

    /// Parses one JSON document; whitespace may surround it, nothing else. A UTF-8 byte order mark, which some
    /// editors write, is skipped unless `allowingByteOrderMark` is false (then it is an error, as RFC 8259 section 8.1
    /// permits).
    public static func parse(_ bytes: [UInt8], allowingByteOrderMark: Bool = true) throws(JSONError) -> JSONValue {
        let skipped = allowingByteOrderMark && bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        let body = skipped == 0 ? bytes : Array(bytes[skipped...])
        let scanner = JSONScanner(body)
        var lines = LineTracker(body)
        let root: JSONScanner.Span
        do {
            root = try scanner.validateDocument()
        } catch {
            let location = lines.location(of: error.offset)
            throw JSONError(message: error.message, offset: error.offset + skipped, line: location.line,
                            column: location.column)
        }
        return value(root, in: scanner, lines: &lines, skipped: skipped)
    }

    /// The tree of a validated span; offsets are visited in increasing order, so line numbers cost one pass.
    private static func value(
        _ span: JSONScanner.Span, in scanner: JSONScanner, lines: inout LineTracker, skipped: Int
    ) -> JSONValue {
        let location = lines.location(of: span.start)
        let kind: JSONValue.Kind
        switch span.kind {
        case .null: kind = .null
        case .bool: kind = .bool(scanner.bool(span) ?? false)
        case .number: kind = .number(scanner.numberText(span) ?? "")
        case .string: kind = .string(scanner.string(span) ?? "")
        case .array:
            kind = .array(scanner.elements(of: span).map { value($0, in: scanner, lines: &lines, skipped: skipped) })
        case .object:
            kind = .object(scanner.members(of: span).map { key, member in
                let keyLocation = lines.location(of: key.start)
                return JSONMember(key: scanner.string(key) ?? "", offset: key.start + skipped, line: keyLocation.line,
                                  column: keyLocation.column,
                                  value: value(member, in: scanner, lines: &lines, skipped: skipped))
            })
        }
        return JSONValue(kind: kind, offset: span.start + skipped, line: location.line, column: location.column)
    }
}
