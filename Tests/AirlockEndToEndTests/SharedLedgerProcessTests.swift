#if canImport(Glibc)
import Glibc
#endif
import AirlockMockUpstream
import AirlockTestSupport
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization
import Testing

/// Issue 17's proof: four `airlock router` processes share one tenant budget on one PostgreSQL server. Many
/// concurrent plain and streamed requests race for it through a mock upstream that reports usage, and one router
/// is SIGKILLed mid-run. The budget is never exceeded (also while requests are in flight: charged plus held), and
/// what is charged is exactly the usage the upstream reported for complete answers plus, for requests cut by the
/// kill, either their reservation or their usage: nothing lost, nothing charged twice.
@Suite(
    "Shared ledger, four routers",
    .enabled(
        if: PostgresServer.unavailable == nil,
        "needs PostgreSQL's server binaries (scripts/install-deps.sh installs them) and, as root, setpriv to run it as nobody"
    ),
    .timeLimit(.minutes(3))
)
struct SharedLedgerProcessTests {
    /// 1,000 one-letter words: the mock reports 1,000 prompt tokens, so usage is a third of the worst case and
    /// the budget is spent by settlements, not only held.
    static let content = String(repeating: "w ", count: 1_000)
    static let outputCap = 20
    /// What the mock reports for a complete answer: the prompt's words and the 10 words it streams.
    static let usage = 1_000 + 10

    static func body(stream: Bool) -> String {
        let options = stream ? #","stream":true,"stream_options":{"include_usage":true}"# : ""
        return #"{"model":"gpt-test","max_completion_tokens":\#(outputCap)\#(options),"messages":[{"role":"user","content":"\#(content)"}]}"#
    }

    /// The router's worst case for `body`: its bytes, 1,024 for what providers add, the output cap.
    static func worstCase(stream: Bool) -> Int { body(stream: stream).utf8.count + 1_024 + outputCap }

    enum Outcome: Sendable {
        /// A complete answer and the usage the upstream reported in it.
        case complete(Int)
        case refused
        /// Cut by the kill (or not answered): the ledger may hold its reservation, its usage, or nothing.
        case cut(worstCase: Int)
        /// The connection was refused: the request never reached a router.
        case unreached
    }

    static func send(port: Int, stream: Bool) -> Outcome {
        let body = body(stream: stream)
        guard let socket = try? RawSocket(port: port, timeoutSeconds: 20) else { return .unreached }
        socket.send("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)")
        let text = socket.readAll().text
        if text.hasPrefix("HTTP/1.1 429") && text.contains("budget_exceeded") { return .refused }
        let complete = text.hasPrefix("HTTP/1.1 200") && (!stream || text.contains("data: [DONE]"))
        if complete, let range = text.range(of: "\"total_tokens\":") {
            let digits = text[range.upperBound...].prefix(while: \.isNumber)
            if let usage = Int(digits) { return .complete(usage) }
        }
        return .cut(worstCase: worstCase(stream: stream))
    }

    @Test("no overshoot across four routers, exact charges, and a SIGKILLed router loses and doubles nothing")
    func fourRouters() async throws {
        let server = try await PostgresServer.start()
        let budget = 30 * Self.worstCase(stream: true)
        // The routers share one configuration: with the shared ledger their state directory holds nothing.
        let ledger = "ledger:\n  backend: postgres\n  postgres:\n" + server.ledgerYAML(extra: ["timeout: 2s", "lease: 6s"])
        let stack = try await RouterProcessTests.stack(routerPort: 0, extra: ledger, dayBudget: budget)
        let mock = stack.mock
        var routers: [(process: AirlockProcess, port: Int)] = []
        for _ in 0..<4 {
            routers.append(try await RouterProcessTests.startRouterWithPort(stack))
        }

        // Watches the invariant while requests are in flight: charged plus held never exceeds the budget. One
        // connection of the test's own: a psql process per sample would spawn thousands of processes.
        let database = try await PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.next(),
            configuration: .init(
                host: "127.0.0.1", port: server.port, username: server.user, password: server.password,
                database: server.database, tls: .disable
            ),
            id: 1,
            logger: Logger(label: "test.shared-ledger")
        )
        let run = RunState()
        let watcher = Task {
            var peak = 0
            var samples = 0
            while run.running && samples < 5_000 {
                samples += 1
                peak = max(peak, (try? await Self.integer(database, "SELECT COALESCE(sum(charged + held), 0)::bigint FROM airlock_budget")) ?? 0)
                try? await Task.sleep(for: .milliseconds(5))
            }
            return peak
        }

        let perWorker = 14
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, port) in routers.map(\.port).enumerated() {
                for worker in 0..<8 {
                    group.addTask {
                        try await offPool {
                            for n in 0..<perWorker {
                                if index == 0 && run.killed { return }
                                run.record(index, Self.send(port: port, stream: (worker + n) % 2 == 0))
                            }
                        }
                    }
                }
            }
            let victim = routers[0].process
            group.addTask {
                // Mid-run, with streams of router 0 in flight.
                try await Task.sleep(for: .milliseconds(1_200))
                run.kill(victim)
            }
            try await group.waitForAll()
        }
        _ = try await routers[0].process.waitForExit()

        // The dead router's lease (6 s) expires and a live router charges its holds in full.
        let swept = try await eventually(seconds: 30) {
            try await Self.integer(database, "SELECT count(*) FROM airlock_hold") == 0
        }
        #expect(swept, "the killed router's holds were never swept")
        run.stop()
        let peak = await watcher.value

        let all = run.outcomes
        let usage = Self.usage
        var reported = 0
        var complete = 0
        var refused = 0
        var cut = 0
        // What each request whose charge the test cannot know may have added.
        var uncertain: [[Int]] = []
        for (router, outcome) in all {
            switch outcome {
            case .complete(let reportedUsage):
                #expect(reportedUsage == usage)
                complete += 1
                if router == 0 {
                    // Answered whole, but its router may have died before settling: then the sweep charged the
                    // reservation instead.
                    uncertain.append([reportedUsage, Self.worstCase(stream: true), Self.worstCase(stream: false)])
                } else {
                    reported += reportedUsage
                }
            case .refused: refused += 1
            case .cut(let worstCase):
                cut += 1
                uncertain.append([0, usage, worstCase])
            case .unreached: break
            }
        }
        let charged = try await Self.integer(database, "SELECT COALESCE(sum(charged), 0)::bigint FROM airlock_budget")
        let held = try await Self.integer(database, "SELECT COALESCE(sum(held), 0)::bigint FROM airlock_budget")
        print("shared ledger run: budget \(budget), charged \(charged), peak charged+held \(peak), complete \(complete), refused \(refused), cut \(cut), uncertain \(uncertain.count)")
        #expect(complete > 30 && refused > 0, "complete \(complete), refused \(refused), cut \(cut): the budget was not contested")
        #expect(charged <= budget, "charged \(charged) exceeds the budget \(budget)")
        #expect(peak <= budget, "charged plus held reached \(peak), over the budget \(budget)")
        #expect(held == 0)
        // Every cut request adds 0 (never held), its usage (settled before the kill) or its reservation
        // (swept); nothing else may differ.
        let extra = charged - reported
        #expect(
            Self.decomposes(extra, into: uncertain),
            "charged \(charged) - reported usage \(reported) = \(extra), not explained by \(uncertain.count) requests cut or answered by the killed router"
        )

        for router in routers.dropFirst() {
            router.process.signal(SIGTERM)
            #expect(try await router.process.waitForExit() == 0)
        }
        try await database.close()
        try await mock.shutdown()
        try await server.stop()
    }

    /// One integer a query returns.
    static func integer(_ connection: PostgresConnection, _ sql: String) async throws -> Int {
        let rows = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "test.shared-ledger"))
        for try await value in rows.decode(Int64.self) { return Int(value) }
        throw TestSupportError("\(sql) returned no row")
    }

    /// What the workers share: their outcomes, whether router 0 was killed, whether the run is over.
    final class RunState: Sendable {
        private let state = Mutex<(outcomes: [(router: Int, outcome: Outcome)], killed: Bool, running: Bool)>(([], false, true))

        var outcomes: [(router: Int, outcome: Outcome)] { state.withLock { $0.outcomes } }
        var killed: Bool { state.withLock { $0.killed } }
        var running: Bool { state.withLock { $0.running } }

        func record(_ router: Int, _ outcome: Outcome) {
            state.withLock { $0.outcomes.append((router, outcome)) }
        }

        func kill(_ process: AirlockProcess) {
            state.withLock { $0.killed = true }
            process.signal(SIGKILL)
        }

        func stop() {
            state.withLock { $0.running = false }
        }
    }

    /// Whether `extra` is a sum that takes exactly one value from each request's options.
    static func decomposes(_ extra: Int, into options: [[Int]]) -> Bool {
        var reachable: Set<Int> = [0]
        for choices in options {
            var next: Set<Int> = []
            for sum in reachable {
                for choice in choices where sum + choice <= extra { next.insert(sum + choice) }
            }
            reachable = next
        }
        return reachable.contains(extra)
    }
}
