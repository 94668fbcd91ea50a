import Foundation
import Crypto

/// Incremental HMAC-SHA256 of a body under the log's ``BodyKey``, for bodies that stream through in chunks.
///
/// Feed every chunk with ``update(_:)`` and call ``finalize()`` once. Only the 32-byte MAC leaves this type.
public struct BodyHasher: Sendable {
    private var mac: HMAC<SHA256>

    init(key: SymmetricKey) {
        self.mac = HMAC<SHA256>(key: key)
    }

    /// Adds the next chunk of the body.
    public mutating func update(_ chunk: some ContiguousBytes) {
        chunk.withUnsafeBytes { mac.update(data: $0) }
    }

    /// The digest of everything added.
    public func finalize() -> BodyDigest {
        BodyDigest(validatedBytes: Array(mac.finalize()))
    }
}
