/// Verification of RFC 6962 proofs with the algorithms of RFC 9162 section 2.1.3.2 and 2.1.4.2.
public enum ProofVerification {
    /// The root implied by an inclusion proof, or nil if the proof has the wrong shape for `index` and `treeSize`.
    public static func rootFromInclusionProof(
        index: UInt64,
        treeSize: UInt64,
        leafHash: MerkleHash,
        proof: [MerkleHash]
    ) -> MerkleHash? {
        guard index < treeSize else { return nil }
        var fn = index
        var sn = treeSize - 1
        var r = leafHash
        for p in proof {
            if sn == 0 { return nil }
            if fn & 1 == 1 || fn == sn {
                r = RFC6962.nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = RFC6962.nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 ? r : nil
    }

    /// Whether `proof` shows that the leaf with `leafHash` is at `index` in the tree of `treeSize` with `root`.
    public static func verifyInclusion(
        index: UInt64,
        treeSize: UInt64,
        leafHash: MerkleHash,
        proof: [MerkleHash],
        root: MerkleHash
    ) -> Bool {
        rootFromInclusionProof(index: index, treeSize: treeSize, leafHash: leafHash, proof: proof) == root
    }

    /// Whether `proof` shows that the tree (`oldSize`, `oldRoot`) is a prefix of the tree (`newSize`, `newRoot`).
    public static func verifyConsistency(
        oldSize: UInt64,
        newSize: UInt64,
        oldRoot: MerkleHash,
        newRoot: MerkleHash,
        proof: [MerkleHash]
    ) -> Bool {
        if oldSize > newSize { return false }
        if oldSize == newSize { return proof.isEmpty && oldRoot == newRoot }
        if oldSize == 0 { return proof.isEmpty }
        if proof.isEmpty { return false }

        var path = proof
        if oldSize & (oldSize - 1) == 0 { path.insert(oldRoot, at: 0) }
        var fn = oldSize - 1
        var sn = newSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path[0]
        var sr = path[0]
        for c in path.dropFirst() {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                fr = RFC6962.nodeHash(c, fr)
                sr = RFC6962.nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = RFC6962.nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return fr == oldRoot && sr == newRoot && sn == 0
    }
}
