import AirlockPolicy
import AirlockReceipts
import Testing

@testable import AirlockRouter

@Suite("Refusals past the rate limit")
struct FloodTallyTests {
    @Test("the first refusal of a peer in a second is recorded, the rest are counted and taken once the second is over")
    func tally() {
        let tally = FloodTally()
        let a = FloodTally.Key(sandbox: "a", tenant: "t", uid: 1000)
        let b = FloodTally.Key(sandbox: nil, tenant: nil, uid: 1001)
        #expect(tally.note(a, second: 10))
        #expect(!tally.note(a, second: 10))
        #expect(!tally.note(a, second: 10))
        #expect(tally.note(b, second: 10))
        // Nothing of second 10 is due while it lasts.
        #expect(tally.takeDue(before: 10).isEmpty)
        // A new second for `a` starts a new first; the count of second 10 is kept for the next take.
        #expect(tally.note(a, second: 11))
        #expect(!tally.note(a, second: 11))
        let due = tally.takeDue(before: 11)
        #expect(due == [FloodTally.Batch(key: a, count: 2)])
        // At shutdown everything left is taken, and then nothing is.
        #expect(tally.takeDue(before: nil) == [FloodTally.Batch(key: a, count: 1)])
        #expect(tally.takeDue(before: nil).isEmpty)
        let receipt = FloodTally.receipt(FloodTally.Batch(key: a, count: 7))
        #expect(receipt.count == 7 && receipt.status == 429 && receipt.reason == "rate_limited" && receipt.decision == "deny")
        #expect(receipt.sandbox == "a" && receipt.uid == 1000 && receipt.route == nil)
    }

    @Test("peers of no sandbox share their own bucket and take nothing from the global one")
    func unknownPeers() {
        let limits = RouterLimits(rate: RateSettings(rps: 0.001, burst: 2), unknownPeerRate: RateSettings(rps: 0.001, burst: 3))
        let limiters = Limiters(limits: limits, sandboxes: [SandboxPolicy(name: "agent", tenant: "t", uids: [1000], models: [])])
        for _ in 0..<3 { #expect(limiters.admitRate(sandbox: nil) == nil) }
        #expect(limiters.admitRate(sandbox: nil)?.reason == "rate_limited")
        // The sandboxes still have the whole global bucket.
        #expect(limiters.admitRate(sandbox: "agent") == nil)
        #expect(limiters.admitRate(sandbox: "agent") == nil)
        #expect(limiters.admitRate(sandbox: "agent")?.reason == "rate_limited")
        // A reload keeps the tally (and what it counted).
        let key = FloodTally.Key(sandbox: "agent", tenant: "t", uid: 1000)
        #expect(limiters.flood.note(key, second: 5))
        #expect(!limiters.flood.note(key, second: 5))
        let reloaded = Limiters(limits: limits, sandboxes: [], previous: limiters)
        #expect(reloaded.flood.takeDue(before: nil) == [FloodTally.Batch(key: key, count: 1)])
    }
}
