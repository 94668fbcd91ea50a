import AirlockJSON

/// Pieces of prompt a request body names but does not hold: an image or file by URL or id, a stored conversation
/// or prompt. Their tokens cannot be bounded by the body's bytes, so they are reserved by the sandbox's
/// `budget.unbounded_input_allowance`, or refused when it has none.
///
/// Found in one pass over the (already validated) body, by member name at any depth, names compared after
/// unescaping: `file_id` and `file_url` (not null); `url` and `image_url` whose value is a string that is not a
/// `data:` URL; at the top level `previous_response_id`, `conversation` and `prompt` (not null). A `url` string
/// that names no prompt content (in a tool's schema, say) is counted too: an over-reservation, settled away.
struct UnboundedInputs: Sendable, Equatable {
    var count = 0
    /// The member name of the first one, for the refusal.
    var first: String?

    private static let anyDepth = ["file_id", "file_url"]
    private static let remoteStrings = ["url", "image_url"]
    private static let topLevel = ["previous_response_id", "conversation", "prompt"]

    init(_ shape: RequestShape) {
        let scanner = shape.scanner
        let bytes = scanner.bytes
        var depth = 0
        var i = 0
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                i += 1
            case UInt8(ascii: "\""):
                let start = i
                i += 1
                while i < bytes.count && bytes[i] != UInt8(ascii: "\"") {
                    i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1
                }
                i += 1
                var colon = i
                while colon < bytes.count, Self.isSpace(bytes[colon]) { colon += 1 }
                guard colon < bytes.count, bytes[colon] == UInt8(ascii: ":") else { continue }
                var value = colon + 1
                while value < bytes.count, Self.isSpace(bytes[value]) { value += 1 }
                guard value < bytes.count, bytes[value] != UInt8(ascii: "n") else { continue }
                let key = JSONScanner.Span(start: start, end: i, kind: .string)
                if let name = Self.anyDepth.first(where: { scanner.keyEquals(key, $0) })
                    ?? (depth == 1 ? Self.topLevel.first(where: { scanner.keyEquals(key, $0) }) : nil)
                    ?? (Self.isRemote(bytes, at: value) ? Self.remoteStrings.first(where: { scanner.keyEquals(key, $0) }) : nil)
                {
                    count += 1
                    if first == nil { first = name }
                }
            default:
                i += 1
            }
        }
    }

    private static func isSpace(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D
    }

    /// A string value that is not a `data:` URL (written without escapes: an escaped one counts as remote).
    private static func isRemote(_ bytes: [UInt8], at value: Int) -> Bool {
        guard bytes[value] == UInt8(ascii: "\"") else { return false }
        return !bytes[(value + 1)...].starts(with: "data:".utf8)
    }
}
