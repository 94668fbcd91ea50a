import Testing

@testable import AirlockReceipts

/// The RFC 6962 reference data used by Certificate Transparency and transparency-dev/merkle
/// (`testonly/constants.go`, `proof/verify_test.go`): eight leaves, the roots of every prefix, and reference
/// inclusion and consistency proofs.
enum Vectors {
    static let leaves: [[UInt8]] = [
        "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f",
    ].map { Hex.decode($0)! }

    static let roots: [MerkleHash] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ].map { MerkleHash(hex: $0)! }

    struct Inclusion: Sendable, CustomTestStringConvertible {
        let index: UInt64
        let size: UInt64
        let proof: [MerkleHash]
        var testDescription: String { "leaf \(index) of \(size)" }
    }

    struct Consistency: Sendable, CustomTestStringConvertible {
        let old: UInt64
        let new: UInt64
        let proof: [MerkleHash]
        var testDescription: String { "\(old) -> \(new)" }
    }

    static func h(_ hex: String) -> MerkleHash { MerkleHash(hex: hex)! }

    /// Zero-based leaf indices (the Go vectors list them one-based).
    static let inclusions: [Inclusion] = [
        Inclusion(index: 0, size: 1, proof: []),
        Inclusion(
            index: 0,
            size: 8,
            proof: [
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ]
        ),
        Inclusion(
            index: 5,
            size: 8,
            proof: [
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ]
        ),
        Inclusion(index: 2, size: 3, proof: [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
        Inclusion(
            index: 1,
            size: 5,
            proof: [
                h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ]
        ),
    ]

    static let consistencies: [Consistency] = [
        Consistency(old: 1, new: 1, proof: []),
        Consistency(
            old: 1,
            new: 8,
            proof: [
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ]
        ),
        Consistency(
            old: 6,
            new: 8,
            proof: [
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ]
        ),
        Consistency(
            old: 2,
            new: 5,
            proof: [
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ]
        ),
        Consistency(
            old: 6,
            new: 7,
            proof: [
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ]
        ),
    ]

    static var tree: MerkleTree { MerkleTree(leafHashes: leaves.map { RFC6962.leafHash($0) }) }
}

@Suite("RFC 6962 reference vectors")
struct MerkleVectorTests {
    @Test("root of every prefix", arguments: 0...8)
    func roots(size: Int) {
        let hashes = Vectors.leaves.prefix(size).map { RFC6962.leafHash($0) }
        #expect(RFC6962.rootHash(leafHashes: hashes) == Vectors.roots[size])
        #expect(Vectors.tree.rootHash(size: UInt64(size)) == Vectors.roots[size])
        var range = CompactRange()
        for hash in hashes { range.append(hash) }
        #expect(range.root == Vectors.roots[size])
        #expect(range.hashes.count == size.nonzeroBitCount)
    }

    @Test("the empty tree and a leaf hash have their well-known values")
    func basics() {
        #expect(RFC6962.emptyRoot.hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(RFC6962.leafHash([UInt8]()).hex == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    }

    @Test("reference inclusion proofs are generated and verify", arguments: Vectors.inclusions)
    func inclusion(vector: Vectors.Inclusion) throws {
        let tree = Vectors.tree
        #expect(try tree.inclusionProof(index: vector.index, treeSize: vector.size) == vector.proof)
        let leafHash = RFC6962.leafHash(Vectors.leaves[Int(vector.index)])
        #expect(
            ProofVerification.verifyInclusion(
                index: vector.index,
                treeSize: vector.size,
                leafHash: leafHash,
                proof: vector.proof,
                root: Vectors.roots[Int(vector.size)]
            )
        )
    }

    @Test("tampered inclusion proofs are rejected", arguments: Vectors.inclusions.filter { !$0.proof.isEmpty })
    func inclusionTampering(vector: Vectors.Inclusion) {
        let root = Vectors.roots[Int(vector.size)]
        let leafHash = RFC6962.leafHash(Vectors.leaves[Int(vector.index)])
        let some = MerkleHash(hex: "abacaba000000000000000000000000000000000000000000060061e00123456")!
        var probes: [(UInt64, UInt64, MerkleHash, [MerkleHash], MerkleHash, String)] = [
            (vector.index &- 1, vector.size, leafHash, vector.proof, root, "index - 1"),
            (vector.index + 1, vector.size, leafHash, vector.proof, root, "index + 1"),
            (vector.index ^ 2, vector.size, leafHash, vector.proof, root, "index ^ 2"),
            (vector.index, vector.size * 2, leafHash, vector.proof, root, "size * 2"),
            (vector.index, vector.size / 2, leafHash, vector.proof, root, "size / 2"),
            (vector.index, vector.size, RFC6962.leafHash(Array("WrongLeaf".utf8)), vector.proof, root, "wrong leaf"),
            (vector.index, vector.size, leafHash, vector.proof, RFC6962.emptyRoot, "empty root"),
            (vector.index, vector.size, leafHash, vector.proof, some, "random root"),
            (vector.index, vector.size, leafHash, vector.proof + [root], root, "trailing root"),
            (vector.index, vector.size, leafHash, [root] + vector.proof, root, "preceding root"),
            (vector.index, vector.size, leafHash, Array(vector.proof.dropLast()), root, "removed component"),
        ]
        for position in vector.proof.indices {
            var bytes = vector.proof[position].bytes
            bytes[0] ^= 8
            var proof = vector.proof
            proof[position] = MerkleHash(bytes: bytes)!
            probes.append((vector.index, vector.size, leafHash, proof, root, "modified proof[\(position)]"))
        }
        if vector.proof.count > 1 {
            probes.append(
                (vector.index, vector.size, leafHash, [vector.proof[0], some] + vector.proof.dropFirst(), root, "inserted")
            )
        }
        for (index, size, leaf, proof, root, description) in probes {
            #expect(
                !ProofVerification.verifyInclusion(index: index, treeSize: size, leafHash: leaf, proof: proof, root: root),
                "accepted a tampered proof: \(description)"
            )
        }
    }

    @Test("reference consistency proofs are generated and verify", arguments: Vectors.consistencies)
    func consistency(vector: Vectors.Consistency) throws {
        #expect(try Vectors.tree.consistencyProof(oldSize: vector.old, newSize: vector.new) == vector.proof)
        #expect(
            ProofVerification.verifyConsistency(
                oldSize: vector.old,
                newSize: vector.new,
                oldRoot: Vectors.roots[Int(vector.old)],
                newRoot: Vectors.roots[Int(vector.new)],
                proof: vector.proof
            )
        )
    }

    @Test("tampered consistency proofs are rejected", arguments: Vectors.consistencies.filter { !$0.proof.isEmpty })
    func consistencyTampering(vector: Vectors.Consistency) {
        let root1 = Vectors.roots[Int(vector.old)]
        let root2 = Vectors.roots[Int(vector.new)]
        let wrong = RFC6962.leafHash(Array("WrongRoot".utf8))
        var probes: [(UInt64, UInt64, MerkleHash, MerkleHash, [MerkleHash], String)] = [
            (vector.old - 1, vector.new, root1, root2, vector.proof, "old - 1"),
            (vector.old + 1, vector.new, root1, root2, vector.proof, "old + 1"),
            (vector.old ^ 2, vector.new, root1, root2, vector.proof, "old ^ 2"),
            (vector.old, vector.new * 2, root1, root2, vector.proof, "new * 2"),
            (vector.old, vector.new / 2, root1, root2, vector.proof, "new / 2"),
            (vector.old, vector.new, wrong, root2, vector.proof, "wrong root1"),
            (vector.old, vector.new, root1, wrong, vector.proof, "wrong root2"),
            (vector.old, vector.new, root2, root1, vector.proof, "swapped roots"),
            (vector.old, vector.new, root1, root2, [], "empty proof"),
            (vector.old, vector.new, root1, root2, vector.proof + [root1], "trailing root1"),
            (vector.old, vector.new, root1, root2, vector.proof + [root2], "trailing root2"),
            (vector.old, vector.new, root1, root2, [root1] + vector.proof, "preceding root1"),
            (vector.old, vector.new, root1, root2, [root2] + vector.proof, "preceding root2"),
            (vector.old, vector.new, root1, root2, [vector.proof[0]] + vector.proof, "preceding proof[0]"),
            (vector.old, vector.new, root1, root2, Array(vector.proof.dropLast()), "truncated proof"),
        ]
        for position in vector.proof.indices {
            var bytes = vector.proof[position].bytes
            bytes[0] ^= 16
            var proof = vector.proof
            proof[position] = MerkleHash(bytes: bytes)!
            probes.append((vector.old, vector.new, root1, root2, proof, "modified proof[\(position)]"))
        }
        for (old, new, r1, r2, proof, description) in probes {
            #expect(
                !ProofVerification.verifyConsistency(oldSize: old, newSize: new, oldRoot: r1, newRoot: r2, proof: proof),
                "accepted a tampered proof: \(description)"
            )
        }
    }

    @Test("edge cases of consistency (RFC 9162 section 2.1.4.2)")
    func consistencyEdges() {
        let a = RFC6962.leafHash([UInt8(1)])
        let b = RFC6962.leafHash([UInt8(2)])
        #expect(ProofVerification.verifyConsistency(oldSize: 0, newSize: 0, oldRoot: a, newRoot: a, proof: []))
        #expect(!ProofVerification.verifyConsistency(oldSize: 0, newSize: 0, oldRoot: a, newRoot: b, proof: []))
        #expect(ProofVerification.verifyConsistency(oldSize: 0, newSize: 1, oldRoot: a, newRoot: b, proof: []))
        #expect(!ProofVerification.verifyConsistency(oldSize: 1, newSize: 1, oldRoot: a, newRoot: b, proof: []))
        #expect(!ProofVerification.verifyConsistency(oldSize: 1, newSize: 0, oldRoot: a, newRoot: b, proof: []))
        #expect(!ProofVerification.verifyConsistency(oldSize: 1, newSize: 2, oldRoot: a, newRoot: b, proof: []))
        #expect(!ProofVerification.verifyConsistency(oldSize: 1, newSize: 1, oldRoot: a, newRoot: a, proof: [a]))
    }

    @Test("generated proofs verify and tampering fails for every pair of sizes up to 40")
    func exhaustive() throws {
        let hashes = (0..<40).map { RFC6962.leafHash([UInt8($0), 0xAB]) }
        let tree = MerkleTree(leafHashes: hashes)
        for size in 1...UInt64(40) {
            let root = tree.rootHash(size: size)
            #expect(root == RFC6962.rootHash(leafHashes: hashes.prefix(Int(size))))
            for index in 0..<size {
                let proof = try tree.inclusionProof(index: index, treeSize: size)
                let leaf = hashes[Int(index)]
                #expect(ProofVerification.verifyInclusion(index: index, treeSize: size, leafHash: leaf, proof: proof, root: root))
                let other = hashes[Int((index + 1) % 40)]
                #expect(!ProofVerification.verifyInclusion(index: index, treeSize: size, leafHash: other, proof: proof, root: root))
            }
            for old in 0...size {
                let proof = try tree.consistencyProof(oldSize: old, newSize: size)
                let oldRoot = tree.rootHash(size: old)
                #expect(ProofVerification.verifyConsistency(oldSize: old, newSize: size, oldRoot: oldRoot, newRoot: root, proof: proof))
                if old > 0 && old < size {
                    let wrongOld = RFC6962.nodeHash(oldRoot, oldRoot)
                    #expect(!ProofVerification.verifyConsistency(oldSize: old, newSize: size, oldRoot: wrongOld, newRoot: root, proof: proof))
                }
            }
        }
    }
}
