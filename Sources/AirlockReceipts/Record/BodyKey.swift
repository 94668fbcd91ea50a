import Foundation
import Crypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The per-log 32-byte HMAC key for body digests, kept beside the log in `body.key` with mode 0600.
///
/// Digests let an auditor who is given a body (and the key) check that it is the one the receipt names, while the
/// log itself reveals nothing about bodies to someone without the key.
public struct BodyKey: Sendable {
    /// The file name inside the log directory.
    public static let fileName = "body.key"

    let key: SymmetricKey

    /// Creates a key from 32 raw bytes.
    public init(bytes: [UInt8]) throws(ReceiptLogError) {
        guard bytes.count == 32 else {
            throw ReceiptLogError(.invalidKey, "a body key is 32 bytes, got \(bytes.count)")
        }
        self.key = SymmetricKey(data: bytes)
    }

    /// Loads `body.key` from `directory`, creating it with a fresh random key and mode 0600 if it does not exist.
    /// Refuses a key file that others can read.
    public static func loadOrCreate(directory: String) throws(ReceiptLogError) -> BodyKey {
        let path = directory + "/" + fileName
        if !FileSystem.exists(path) {
            let fresh = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
            _ = try FileSystem.createExclusive(fresh, at: path, mode: 0o600)
        }
        if let mode = FileSystem.mode(of: path), mode & 0o077 != 0 {
            throw ReceiptLogError(
                .invalidKey,
                "the body key is readable by others (mode \(String(mode, radix: 8))); run chmod 600 on it",
                path: path
            )
        }
        guard let bytes = try FileSystem.readFile(path) else {
            throw ReceiptLogError(.invalidKey, "the body key file vanished", path: path)
        }
        do {
            return try BodyKey(bytes: bytes)
        } catch {
            throw ReceiptLogError(.invalidKey, "\(error.message); restore the key file from backup", path: path)
        }
    }

    /// A hasher for one body.
    public func hasher() -> BodyHasher { BodyHasher(key: key) }

    /// The digest of a whole body at once.
    public func digest(_ body: some ContiguousBytes) -> BodyDigest {
        var hasher = self.hasher()
        hasher.update(body)
        return hasher.finalize()
    }
}
