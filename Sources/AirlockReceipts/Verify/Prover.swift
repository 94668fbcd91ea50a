/// Builds inclusion and consistency proofs from a log directory.
///
/// Loads the stored leaf hashes into a ``MerkleTree`` once (about 64 bytes of memory per record); each proof after
/// that takes O(log² n). Proofs are only produced for checkpoints whose root the stored records reproduce.
public struct Prover: Sendable {
    /// The log directory.
    public let directory: String
    /// The tree over all complete stored records.
    public let tree: MerkleTree

    /// Loads the tree of `directory`.
    public init(directory: String) throws(ReceiptLogError) {
        self.directory = directory
        self.tree = MerkleTree(leafHashes: try LogReader(directory: directory).storedLeafHashes())
    }

    /// An inclusion proof for record `index` up to `checkpoint` (default: the log's newest checkpoint), in the
    /// c2sp.org/tlog-proof format with the leaf bytes in its `extra` line.
    public func inclusionProof(index: UInt64, checkpoint: SignedCheckpoint? = nil) throws(ReceiptLogError) -> TLogProof {
        var chosen = checkpoint
        if chosen == nil { chosen = try LogReader(directory: directory).latestCheckpoint() }
        guard let signed = chosen else {
            throw ReceiptLogError(.malformedProof, "the log has no checkpoint to prove against yet", path: directory)
        }
        try checkRoot(signed.checkpoint)
        guard index < signed.checkpoint.size else {
            throw ReceiptLogError(
                .malformedProof,
                "record \(index) is not covered by the checkpoint (size \(signed.checkpoint.size)); wait for the next checkpoint",
                index: index
            )
        }
        let path = try tree.inclusionProof(index: index, treeSize: signed.checkpoint.size)
        let entry: ReceiptEntry?
        do {
            entry = try LogReader(directory: directory).entry(at: index)
        } catch let error as ReceiptLogError {
            throw error
        } catch {
            throw ReceiptLogError(.io, "cannot read record \(index): \(error)", index: index)
        }
        return TLogProof(leaf: entry?.leaf, index: index, path: path, checkpoint: signed)
    }

    /// The consistency proof between two checkpoints of this log.
    public func consistencyProof(from old: Checkpoint, to new: Checkpoint) throws(ReceiptLogError) -> [MerkleHash] {
        try checkRoot(old)
        try checkRoot(new)
        return try tree.consistencyProof(oldSize: old.size, newSize: new.size)
    }

    private func checkRoot(_ checkpoint: Checkpoint) throws(ReceiptLogError) {
        try Self.check(checkpoint, against: tree, directory: directory)
    }

    /// Checks that `tree`, read from the log in `directory`, covers `checkpoint` and reproduces its root.
    public static func check(_ checkpoint: Checkpoint, against tree: MerkleTree, directory: String)
        throws(ReceiptLogError)
    {
        guard checkpoint.size <= tree.size else {
            throw ReceiptLogError(
                .integrityAlarm,
                "the checkpoint commits to \(checkpoint.size) records but the log has \(tree.size): run 'airlock receipts verify'",
                path: directory
            )
        }
        guard tree.rootHash(size: checkpoint.size) == checkpoint.root else {
            throw ReceiptLogError(
                .integrityAlarm,
                "the stored records do not reproduce the checkpoint root at size \(checkpoint.size): run 'airlock receipts verify'",
                path: directory
            )
        }
    }
}

/// Checks proofs without the log: all that is needed is the proof, the verifier keys and (for inclusion) the leaf.
public enum ProofChecker {
    /// Verifies a tlog-proof: the checkpoint signature under `keys`, the witness cosignatures `witnessPolicy`
    /// requires, then the inclusion path from the leaf (the one given, or else the proof's `extra` bytes) to the
    /// checkpoint root. Returns the verified checkpoint.
    @discardableResult
    public static func verify(
        _ proof: TLogProof,
        keys: [NoteVerifierKey],
        leaf: [UInt8]? = nil,
        witnessPolicy: WitnessPolicy? = nil
    ) throws(ReceiptLogError) -> Checkpoint {
        try checkSignature(proof.checkpoint, keys: keys, what: "the proof's checkpoint")
        if let witnessPolicy, case .failure(let shortfall) = witnessPolicy.check(proof.checkpoint.note) {
            throw ReceiptLogError(.witnessQuorum, witnessPolicy.explain(shortfall, checkpoint: "the proof's checkpoint"))
        }
        guard let leafBytes = leaf ?? proof.leaf else {
            throw ReceiptLogError(.malformedProof, "the proof carries no leaf bytes; pass the record with --leaf")
        }
        let checkpoint = proof.checkpoint.checkpoint
        guard
            ProofVerification.verifyInclusion(
                index: proof.index,
                treeSize: checkpoint.size,
                leafHash: RFC6962.leafHash(leafBytes),
                proof: proof.path,
                root: checkpoint.root
            )
        else {
            throw ReceiptLogError(
                .malformedProof,
                "the inclusion proof for index \(proof.index) does not lead to the checkpoint root (size \(checkpoint.size))",
                index: proof.index
            )
        }
        return checkpoint
    }

    /// Verifies that `new` extends `old`: both signatures under `keys`, then the RFC 6962 consistency proof.
    public static func verifyConsistency(
        old: SignedCheckpoint,
        new: SignedCheckpoint,
        proof: [MerkleHash],
        keys: [NoteVerifierKey]
    ) throws(ReceiptLogError) {
        try checkSignature(old, keys: keys, what: "the old checkpoint")
        try checkSignature(new, keys: keys, what: "the new checkpoint")
        guard old.checkpoint.origin == new.checkpoint.origin else {
            throw ReceiptLogError(.malformedProof, "the checkpoints are of different logs (origins differ)")
        }
        guard old.checkpoint.size <= new.checkpoint.size else {
            throw ReceiptLogError(
                .malformedProof,
                "the new checkpoint (size \(new.checkpoint.size)) is smaller than the old one (size \(old.checkpoint.size)): rollback"
            )
        }
        guard
            ProofVerification.verifyConsistency(
                oldSize: old.checkpoint.size,
                newSize: new.checkpoint.size,
                oldRoot: old.checkpoint.root,
                newRoot: new.checkpoint.root,
                proof: proof
            )
        else {
            throw ReceiptLogError(
                .malformedProof,
                "the consistency proof from size \(old.checkpoint.size) to \(new.checkpoint.size) does not verify: the log forked or the proof is wrong"
            )
        }
    }

    static func checkSignature(_ checkpoint: SignedCheckpoint, keys: [NoteVerifierKey], what: String) throws(ReceiptLogError) {
        switch checkpoint.note.check(keys: keys) {
        case .verified: return
        case .invalidSignature(let name, let id):
            throw ReceiptLogError(.malformedNote, "\(what): the signature by \(name)+\(NoteVerifierKey.hex(id)) does not verify")
        case .noKnownSignature(let found):
            throw ReceiptLogError(
                .malformedNote,
                "\(what): no signature by a trusted key (found: \(found.joined(separator: ", ")))"
            )
        }
    }
}
