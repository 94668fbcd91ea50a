/// What a receipt records. A struct rather than an enum so that a later format version can add kinds without breaking
/// callers; format version 1 has exactly the five below, and the log refuses any other.
public struct ReceiptKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    /// A request as admitted or denied, written before anything goes upstream.
    public static let request = ReceiptKind(rawValue: "request")
    /// The outcome of a request; names the request record in `request_index`.
    public static let completion = ReceiptKind(rawValue: "completion")
    /// An egress proxy tunnel or forward.
    public static let egress = ReceiptKind(rawValue: "egress")
    /// One request of an agent to an MCP server through the router's MCP gateway, allowed or refused.
    public static let mcp = ReceiptKind(rawValue: "mcp")
    /// An event of the log itself, such as a change of signing keys.
    public static let admin = ReceiptKind(rawValue: "admin")

    public var description: String { rawValue }
}
