import Crypto

/// A SHA-256 value in the Merkle tree: a leaf hash, a node hash or a root.
///
/// Stored inline (no heap allocation) so that building and checking large trees stays fast.
public struct MerkleHash: Hashable, Sendable, CustomStringConvertible {
    private var w0: UInt64 = 0
    private var w1: UInt64 = 0
    private var w2: UInt64 = 0
    private var w3: UInt64 = 0

    /// The number of bytes in a hash.
    public static let byteCount = 32

    private init() {}

    /// Creates a hash from exactly 32 bytes; returns nil for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        self.init()
        withUnsafeMutableBytes(of: &self) { target in
            for (offset, byte) in bytes.enumerated() { target[offset] = byte }
        }
    }

    init(copying pointer: UnsafeRawPointer) {
        self.init()
        withUnsafeMutableBytes(of: &self) { target in
            target.baseAddress!.copyMemory(from: pointer, byteCount: Self.byteCount)
        }
    }

    init(_ digest: SHA256.Digest) {
        self.init()
        digest.withUnsafeBytes { source in
            withUnsafeMutableBytes(of: &self) { target in
                target.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: Self.byteCount)
            }
        }
    }

    /// Creates a hash from 64 lowercase or uppercase hex digits.
    public init?(hex: some StringProtocol) {
        guard let bytes = Hex.decode(hex) else { return nil }
        self.init(bytes: bytes)
    }

    /// Creates a hash from standard base64 of 32 bytes.
    public init?(base64: some StringProtocol) {
        guard let bytes = Base64.decodeStrict(base64) else { return nil }
        self.init(bytes: bytes)
    }

    /// The 32 bytes.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Lowercase hex.
    public var hex: String { withUnsafeBytes { Hex.encode($0) } }

    /// Standard base64, as in checkpoints and proofs.
    public var base64: String { Base64.encode(bytes) }

    public var description: String { hex }

    /// Calls `body` with the 32 bytes.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: self, body)
    }
}
