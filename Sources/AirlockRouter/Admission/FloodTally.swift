import AirlockReceipts
import Synchronization

/// How refusals past a rate limit are recorded so that every one is accounted for and the log stays bounded: per
/// peer (sandbox, tenant, UID) and per second of wall-clock time, the first such refusal gets its own receipt and the
/// rest are counted; once that second is over, one receipt with `count` stands for them (docs/receipts.md 3.5).
/// A flooding peer thus writes at most two receipts a second however fast it sends.
final class FloodTally: Sendable {
    struct Key: Hashable, Sendable {
        var sandbox: String?
        var tenant: String?
        var uid: UInt32?
    }

    private struct Entry {
        var second: Int64
        var counted: Int64
    }

    /// Refusals counted but not yet written, for one peer and one second.
    struct Batch: Sendable, Equatable {
        var key: Key
        var count: Int64
    }

    private let entries = Mutex<[Key: Entry]>([:])

    static func key(_ peer: PeerIdentity) -> Key {
        Key(sandbox: peer.sandbox?.name, tenant: peer.sandbox?.tenant, uid: peer.uid)
    }

    /// Notes one refusal past the limit at `second`. True: it is the peer's first this second and gets its own
    /// receipt; false: it is counted into the batch for this second.
    func note(_ key: Key, second: Int64) -> Bool {
        entries.withLock { all -> Bool in
            if var entry = all[key], entry.second == second {
                entry.counted += 1
                all[key] = entry
                return false
            }
            // A batch of an earlier second still held is written by the next `takeDue`; this starts a new second.
            if let old = all[key], old.counted > 0 {
                pendingOlder.withLock { $0.append(Batch(key: key, count: old.counted)) }
            }
            all[key] = Entry(second: second, counted: 0)
            return true
        }
    }

    /// Batches displaced by a newer second before they were taken.
    private let pendingOlder = Mutex<[Batch]>([])

    /// The batches of seconds before `second` (all of them when `second` is nil, at shutdown), removed.
    func takeDue(before second: Int64?) -> [Batch] {
        var due = pendingOlder.withLock { batches -> [Batch] in
            defer { batches.removeAll() }
            return batches
        }
        entries.withLock { all in
            for (key, entry) in all where second == nil || entry.second < second! {
                if entry.counted > 0 { due.append(Batch(key: key, count: entry.counted)) }
                all[key] = nil
            }
        }
        return due
    }

    /// The receipt that stands for a batch.
    static func receipt(_ batch: Batch) -> Receipt {
        Receipt(
            kind: .request,
            time: WallClock.nanoseconds(),
            sandbox: batch.key.sandbox,
            tenant: batch.key.tenant,
            uid: batch.key.uid.map(Int64.init),
            decision: "deny",
            reason: "rate_limited",
            status: 429,
            count: batch.count
        )
    }
}
