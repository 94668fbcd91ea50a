/// A k-of-n witness requirement on a checkpoint: the c2sp.org/tlog-policy quorum `group <g> <k> <w1> … <wn>` /
/// `quorum <g>`, over witnesses identified by their cosigner keys.
public struct WitnessPolicy: Sendable, Hashable {
    /// The witnesses, each counted at most once.
    public let witnesses: [CosignerKey]
    /// How many of them must have cosigned.
    public let quorum: Int

    /// Why a checkpoint does not meet the policy.
    public enum Shortfall: Error, Sendable, Hashable {
        /// A cosignature line by a listed witness (name and key id) does not verify: altered or forged.
        case invalidCosignature(witness: CosignerKey)
        /// Fewer than `quorum` listed witnesses cosigned.
        case notEnough(valid: [CosignerKey], needed: Int)
    }

    /// A policy needing `quorum` of `witnesses`. Refuses a quorum outside 1…n and two keys with one public key
    /// (tlog-policy: duplicate witnesses are not allowed, so none can count twice).
    public init(witnesses: [CosignerKey], quorum: Int) throws(ReceiptLogError) {
        guard !witnesses.isEmpty else {
            throw ReceiptLogError(.invalidKey, "a witness quorum needs at least one witness key (--witness-key)")
        }
        guard (1...witnesses.count).contains(quorum) else {
            throw ReceiptLogError(
                .invalidKey,
                "a quorum of \(quorum) is impossible with \(witnesses.count) witness key(s); give 1 to \(witnesses.count)"
            )
        }
        for (position, key) in witnesses.enumerated()
        where witnesses[..<position].contains(where: { $0.publicKey == key.publicKey }) {
            throw ReceiptLogError(
                .invalidKey, "witness key '\(key.text)' is given twice (the same public key); each witness counts once")
        }
        self.witnesses = witnesses
        self.quorum = quorum
    }

    /// A sentence for `shortfall` on `checkpoint` ("the newest checkpoint", "the proof's checkpoint"): what is
    /// wrong and what to do.
    public func explain(_ shortfall: Shortfall, checkpoint: String) -> String {
        switch shortfall {
        case .invalidCosignature(let witness):
            return
                "the cosignature by witness \(witness.name)+\(witness.keyIDHex) on \(checkpoint) does not verify: the checkpoint or the cosignature was altered or forged"
        case .notEnough(let valid, let needed):
            let found = valid.isEmpty ? "none of the given witnesses" : valid.map(\.name).joined(separator: ", ")
            return
                "\(checkpoint) is cosigned by \(found), but \(needed) of the \(witnesses.count) given witness key(s) must cosign it; have the router submit it to its witnesses, or check the --witness-key values"
        }
    }

    /// Checks a signed checkpoint's cosignatures. Lines by other keys are ignored; a listed witness's line that does
    /// not verify fails the check outright, as a failing known signature does for a note.
    public func check(_ note: SignedNote) -> Result<[CosignerKey], Shortfall> {
        var valid: [CosignerKey] = []
        for line in note.signatures {
            guard let witness = witnesses.first(where: { $0.matches(line) }) else { continue }
            guard let cosignature = try? Cosignature(line), witness.verify(cosignature, checkpointText: note.text)
            else {
                return .failure(.invalidCosignature(witness: witness))
            }
            if !valid.contains(witness) { valid.append(witness) }
        }
        guard valid.count >= quorum else { return .failure(.notEnough(valid: valid, needed: quorum)) }
        return .success(valid)
    }
}
