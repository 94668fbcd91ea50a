/// HMAC-SHA256 of a request or response body under the log's ``BodyKey``.
///
/// The only way to put anything about a body into a receipt. It can be made by ``BodyHasher`` or parsed from 64 hex
/// digits; it can never hold the body itself.
public struct BodyDigest: Sendable, Hashable, CustomStringConvertible {
    /// The 32 MAC bytes.
    public let bytes: [UInt8]

    init(validatedBytes: [UInt8]) {
        self.bytes = validatedBytes
    }

    /// Parses 64 hex digits.
    public init?(hex: String) {
        guard let bytes = Hex.decode(hex), bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    /// Lowercase hex, as written in the record.
    public var hex: String { Hex.encode(bytes) }

    public var description: String { hex }
}
