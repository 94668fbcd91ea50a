/// The frontier of an append-only Merkle tree: the roots of the perfect subtrees that make up `[0, size)`.
///
/// Appending is O(1) amortised and O(log n) at worst; the root is O(log n). This is the "compact range"
/// of transparency-dev/merkle for ranges starting at zero: one hash per set bit of `size`, largest subtree first.
public struct CompactRange: Sendable, Hashable {
    /// The number of leaves covered.
    public private(set) var size: UInt64 = 0
    /// Subtree roots, from the largest (leftmost) perfect subtree to the smallest.
    public private(set) var hashes: [MerkleHash] = []

    /// An empty range.
    public init() {}

    /// Restores a range saved earlier; returns nil if the number of hashes does not match the set bits of `size`.
    public init?(size: UInt64, hashes: [MerkleHash]) {
        guard hashes.count == size.nonzeroBitCount else { return nil }
        self.size = size
        self.hashes = hashes
    }

    /// Appends one leaf hash.
    public mutating func append(_ leafHash: MerkleHash) {
        var hash = leafHash
        var carry = size
        // Each trailing one bit of the old size is a perfect subtree of the same height as `hash` to merge with.
        while carry & 1 == 1 {
            hash = RFC6962.nodeHash(hashes.removeLast(), hash)
            carry >>= 1
        }
        hashes.append(hash)
        size += 1
    }

    /// The root hash of the tree of `size` leaves.
    public var root: MerkleHash {
        guard var result = hashes.last else { return RFC6962.emptyRoot }
        for hash in hashes.dropLast().reversed() {
            result = RFC6962.nodeHash(hash, result)
        }
        return result
    }
}
