/// An in-memory Merkle tree over a list of leaf hashes, keeping every complete level so that inclusion and
/// consistency proofs (RFC 6962 section 2.1.1 and 2.1.2) for any tree size up to ``size`` take O(log² n) time.
///
/// Memory: about 64 bytes per leaf.
public struct MerkleTree: Sendable {
    /// `levels[0]` are the leaf hashes; `levels[h][i]` is the root of the perfect subtree of leaves
    /// `[i * 2^h, (i + 1) * 2^h)`. Only complete subtrees are stored.
    private var levels: [[MerkleHash]] = [[]]

    /// An empty tree.
    public init() {}

    /// A tree over the given leaf hashes.
    public init(leafHashes: [MerkleHash]) {
        levels = [[]]
        levels[0].reserveCapacity(leafHashes.count)
        for hash in leafHashes { append(leafHash: hash) }
    }

    /// The number of leaves.
    public var size: UInt64 { UInt64(levels[0].count) }

    /// The hash of leaf `index`.
    public func leafHash(at index: UInt64) -> MerkleHash { levels[0][Int(index)] }

    /// Appends one leaf hash; O(1) amortised.
    public mutating func append(leafHash: MerkleHash) {
        levels[0].append(leafHash)
        var level = 0
        var index = levels[0].count - 1
        while index % 2 == 1 {
            let parent = RFC6962.nodeHash(levels[level][index - 1], levels[level][index])
            level += 1
            if levels.count == level { levels.append([]) }
            levels[level].append(parent)
            index /= 2
        }
    }

    /// The root of the tree of the first `size` leaves (default: all of them).
    public func rootHash(size treeSize: UInt64? = nil) -> MerkleHash {
        let n = treeSize ?? size
        precondition(n <= size, "tree size \(n) is larger than the tree (\(size))")
        return n == 0 ? RFC6962.emptyRoot : subtreeHash(offset: 0, count: n)
    }

    /// The inclusion proof for leaf `index` in the tree of the first `treeSize` leaves (RFC 6962 `PATH(m, D[n])`),
    /// ordered from the leaf's sibling up to the child of the root.
    public func inclusionProof(index: UInt64, treeSize: UInt64) throws(ReceiptLogError) -> [MerkleHash] {
        guard treeSize <= size, index < treeSize else {
            throw ReceiptLogError(
                .malformedProof,
                "no inclusion proof for index \(index) in a tree of size \(treeSize) (log has \(size) records)",
                index: index
            )
        }
        var proof: [MerkleHash] = []
        path(index: index, offset: 0, count: treeSize, into: &proof)
        return proof
    }

    /// The consistency proof from the tree of `oldSize` leaves to the tree of `newSize` leaves
    /// (RFC 6962 `PROOF(m, D[n])`). Empty when `oldSize` is 0 or equal to `newSize`.
    public func consistencyProof(oldSize: UInt64, newSize: UInt64) throws(ReceiptLogError) -> [MerkleHash] {
        guard oldSize <= newSize, newSize <= size else {
            throw ReceiptLogError(
                .malformedProof,
                "no consistency proof from size \(oldSize) to size \(newSize) (log has \(size) records)"
            )
        }
        var proof: [MerkleHash] = []
        if oldSize > 0 && oldSize < newSize {
            subproof(old: oldSize, offset: 0, count: newSize, complete: true, into: &proof)
        }
        return proof
    }

    private func path(index: UInt64, offset: UInt64, count: UInt64, into proof: inout [MerkleHash]) {
        guard count > 1 else { return }
        let k = largestPowerOfTwo(below: count)
        if index < k {
            path(index: index, offset: offset, count: k, into: &proof)
            proof.append(subtreeHash(offset: offset + k, count: count - k))
        } else {
            path(index: index - k, offset: offset + k, count: count - k, into: &proof)
            proof.append(subtreeHash(offset: offset, count: k))
        }
    }

    private func subproof(old: UInt64, offset: UInt64, count: UInt64, complete: Bool, into proof: inout [MerkleHash]) {
        if old == count {
            if !complete { proof.append(subtreeHash(offset: offset, count: count)) }
            return
        }
        let k = largestPowerOfTwo(below: count)
        if old <= k {
            subproof(old: old, offset: offset, count: k, complete: complete, into: &proof)
            proof.append(subtreeHash(offset: offset + k, count: count - k))
        } else {
            subproof(old: old - k, offset: offset + k, count: count - k, complete: false, into: &proof)
            proof.append(subtreeHash(offset: offset, count: k))
        }
    }

    /// MTH of leaves `[offset, offset + count)`, where the range is either a perfect aligned subtree or the
    /// right-hand remainder of one, as produced by the RFC 6962 recursion.
    private func subtreeHash(offset: UInt64, count: UInt64) -> MerkleHash {
        if count & (count - 1) == 0 && offset % count == 0 {
            let height = count.trailingZeroBitCount
            return levels[height][Int(offset >> UInt64(height))]
        }
        let k = largestPowerOfTwo(below: count)
        return RFC6962.nodeHash(subtreeHash(offset: offset, count: k), subtreeHash(offset: offset + k, count: count - k))
    }
}

/// The largest power of two strictly less than `n` (n > 1).
func largestPowerOfTwo(below n: UInt64) -> UInt64 {
    precondition(n > 1)
    return 1 << (63 - (n - 1).leadingZeroBitCount)
}
