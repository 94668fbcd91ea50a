import Testing

@testable import AirlockReceipts

/// A clock that only moves when told to.
struct ManualClock: Clock {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    var now = Instant(offset: .zero)
    var minimumResolution: Duration { .nanoseconds(1) }
    func sleep(until deadline: Instant, tolerance: Duration?) async throws {}
}

@Suite("Group commit and checkpoint schedule state machines")
struct GroupCommitTests {
    let t0 = ManualClock.Instant(offset: .zero)

    @Test("sync: flush at once when idle; appends during a flush join the next group")
    func syncGroups() {
        var machine = GroupCommit<ManualClock>(durability: .sync)
        #expect(machine.nextAction(at: t0, closing: false) == .wait(until: nil))
        let woke = machine.appended(at: t0)
        #expect(woke)
        #expect(machine.nextAction(at: t0, closing: false) == .flush)
        machine.flushStarted()
        // While the sync runs, appends queue up without waking the worker.
        for _ in 0..<15 {
            let wokeDuringFlush = machine.appended(at: t0)
            #expect(!wokeDuringFlush)
        }
        #expect(machine.nextAction(at: t0, closing: false) == .wait(until: nil))
        machine.flushFinished()
        #expect(machine.pending == 15)
        #expect(machine.nextAction(at: t0, closing: false) == .flush)
        machine.flushStarted()
        #expect(machine.pending == 0)
    }

    @Test("batched: wait until the oldest record is maxDelay old, or the batch is full, or closing")
    func batched() {
        var machine = GroupCommit<ManualClock>(durability: .batched(maxDelay: .milliseconds(10)), maxBatchRecords: 3)
        let first = machine.appended(at: t0)
        #expect(first)
        let deadline = t0.advanced(by: .milliseconds(10))
        #expect(machine.nextAction(at: t0.advanced(by: .milliseconds(4)), closing: false) == .wait(until: deadline))
        let second = machine.appended(at: t0.advanced(by: .milliseconds(5)))
        #expect(!second)
        #expect(machine.nextAction(at: deadline, closing: false) == .flush)
        #expect(machine.nextAction(at: t0, closing: true) == .flush)
        let full = machine.appended(at: t0.advanced(by: .milliseconds(6)))
        #expect(full)
        #expect(machine.nextAction(at: t0, closing: false) == .flush)
    }

    @Test("checkpoints: every N records or T after the first uncovered record")
    func schedule() {
        var schedule = CheckpointSchedule<ManualClock>(
            policy: CheckpointPolicy(everyRecords: 100, interval: .seconds(5)),
            checkpointedSize: 10
        )
        #expect(!schedule.isDue(size: 10, at: t0))
        #expect(schedule.deadline == nil)
        schedule.recordsDurable(size: 20, at: t0)
        #expect(!schedule.isDue(size: 20, at: t0.advanced(by: .seconds(4))))
        #expect(schedule.deadline == t0.advanced(by: .seconds(5)))
        #expect(schedule.isDue(size: 20, at: t0.advanced(by: .seconds(5))))
        #expect(schedule.isDue(size: 110, at: t0))
        schedule.checkpointWritten(size: 110)
        #expect(schedule.deadline == nil)
        #expect(!schedule.isDue(size: 110, at: t0.advanced(by: .seconds(60))))
    }
}
