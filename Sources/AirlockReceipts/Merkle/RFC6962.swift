import Foundation
import Crypto

/// The RFC 6962 (section 2.1) Merkle tree hashing, which RFC 9162 keeps unchanged for SHA-256.
///
/// - leaf hash: `SHA-256(0x00 || leaf)`
/// - node hash: `SHA-256(0x01 || left || right)`
/// - the root of the empty tree: `SHA-256()` (the hash of no bytes).
public enum RFC6962 {
    /// The root of a tree with no leaves.
    public static let emptyRoot = MerkleHash(SHA256.hash(data: [UInt8]()))

    /// Hashes one leaf exactly as given.
    public static func leafHash(_ leaf: some ContiguousBytes) -> MerkleHash {
        leaf.withUnsafeBytes { leafHash(pointer: $0) }
    }

    static func leafHash(pointer leaf: UnsafeRawBufferPointer) -> MerkleHash {
        var hasher = SHA256()
        withUnsafeBytes(of: UInt8(0)) { hasher.update(bufferPointer: $0) }
        hasher.update(bufferPointer: leaf)
        return MerkleHash(hasher.finalize())
    }

    /// The leaf hash of `bytes[1...]`, given `bytes` whose first byte is already the 0x00 leaf prefix.
    static func leafHash(prefixed bytes: UnsafeRawBufferPointer) -> MerkleHash {
        var hasher = SHA256()
        hasher.update(bufferPointer: bytes)
        return MerkleHash(hasher.finalize())
    }

    /// Hashes an interior node from its two children.
    public static func nodeHash(_ left: MerkleHash, _ right: MerkleHash) -> MerkleHash {
        // One contiguous 65-byte input on the stack: a single update instead of three.
        withUnsafeTemporaryAllocation(byteCount: 1 + 2 * MerkleHash.byteCount, alignment: 8) { input in
            input[0] = 1
            left.withUnsafeBytes { (input.baseAddress! + 1).copyMemory(from: $0.baseAddress!, byteCount: MerkleHash.byteCount) }
            right.withUnsafeBytes {
                (input.baseAddress! + 1 + MerkleHash.byteCount).copyMemory(from: $0.baseAddress!, byteCount: MerkleHash.byteCount)
            }
            var hasher = SHA256()
            hasher.update(bufferPointer: UnsafeRawBufferPointer(input))
            return MerkleHash(hasher.finalize())
        }
    }

    /// The root of the tree whose leaves have the given hashes (MTH in RFC 6962 section 2.1), computed recursively.
    ///
    /// O(n); meant for tests and small trees. Use ``CompactRange`` for appending and ``MerkleTree`` for proofs.
    public static func rootHash(leafHashes: some Collection<MerkleHash>) -> MerkleHash {
        var range = CompactRange()
        for hash in leafHashes { range.append(hash) }
        return range.root
    }
}
