// Budget ledger benchmark: reservations plus settlements per second on the shared PostgreSQL ledger for one router
// and for four (each with its own connection pool and lease, as four router processes have), and the latency one
// request's reserve + settle adds with PostgreSQL against the journal, all in the same run.
//
//     bench/ledger/run.sh [--seconds N] [--concurrency N]     (starts a throwaway PostgreSQL, builds, runs this)
//     airlock-ledger-bench --port P --password-file F [--host H] [--database D] [--user U] [--dir PATH]
//                          [--seconds N] [--concurrency N]

import AirlockPolicy
import AirlockRouter
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var host = "127.0.0.1"
    var port = 5432
    var database = "airlock"
    var user = "airlock"
    var passwordFile = ""
    var directory = FileManager.default.currentDirectoryPath + "/.bench-ledger"
    var seconds = 5
    var concurrency = 16

    static let usage = """
        usage: airlock-ledger-bench --port P --password-file F [--host H] [--database D] [--user U] [--dir PATH]
                                    [--seconds N] [--concurrency N]
        """

    init() {
        var rest = CommandLine.arguments.dropFirst()
        func fail(_ message: String) -> Never {
            FileHandle.standardError.write(Data("airlock-ledger-bench: \(message)\n\(Self.usage)\n".utf8))
            exit(2)
        }
        func number(_ option: String, _ value: String?, _ range: ClosedRange<Int>) -> Int {
            guard let value, let n = Int(value), range.contains(n) else {
                fail("\(option) needs a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return n
        }
        func text(_ option: String, _ value: String?) -> String {
            guard let value, !value.isEmpty else { fail("\(option) needs a value") }
            return value
        }
        while let option = rest.popFirst() {
            let value = rest.popFirst()
            switch option {
            case "--host": host = text(option, value)
            case "--port": port = number(option, value, 1...65_535)
            case "--database": database = text(option, value)
            case "--user": user = text(option, value)
            case "--password-file": passwordFile = text(option, value)
            case "--dir": directory = text(option, value)
            case "--seconds": seconds = number(option, value, 1...600)
            case "--concurrency": concurrency = number(option, value, 1...256)
            default: fail("unknown option \(option)")
            }
        }
        if passwordFile.isEmpty { fail("--password-file is required") }
    }
}

struct Result {
    var pairs = 0
    var errors = 0
    var refusals = 0
    var microseconds: [Double] = []

    mutating func add(_ other: Result) {
        pairs += other.pairs
        errors += other.errors
        refusals += other.refusals
        microseconds += other.microseconds
    }

    func percentile(_ p: Double) -> Double {
        guard !microseconds.isEmpty else { return .nan }
        let sorted = microseconds.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }
}

/// `concurrency` tasks per ledger, each reserving 1,000 tokens and settling 100 in a loop for `seconds`.
func measure(_ ledgers: [any TokenLedger], tenants: Int, concurrency: Int, seconds: Int) async -> Result {
    let deadline = ContinuousClock.now + .seconds(seconds)
    return await withTaskGroup(of: Result.self) { group in
        for (l, ledger) in ledgers.enumerated() {
            for c in 0..<concurrency {
                let tenant = "t\((l * concurrency + c) % tenants)"
                group.addTask {
                    var result = Result()
                    let now = Int64(Date().timeIntervalSince1970)
                    while ContinuousClock.now < deadline {
                        let started = ContinuousClock.now
                        do {
                            switch try await ledger.reserve(tenant: tenant, tokens: 1_000, now: now) {
                            case .reserved(let reservation):
                                try await ledger.settle(reservation, tokens: 100, now: now)
                                result.pairs += 1
                                let elapsed = ContinuousClock.now - started
                                result.microseconds.append(Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6)
                            case .exceeded:
                                result.refusals += 1
                            }
                        } catch {
                            result.errors += 1
                        }
                    }
                    return result
                }
            }
        }
        var total = Result()
        for await part in group { total.add(part) }
        return total
    }
}

func row(_ name: String, _ result: Result, seconds: Int) -> String {
    let rate = Double(result.pairs) / Double(seconds)
    return String(
        format: "| %@ | %.0f | %.0f | %.0f | %d | %d |",
        name, rate, result.percentile(0.5), result.percentile(0.99), result.errors, result.refusals
    )
}

let options = Options()
var logger = Logger(label: "airlock.ledger-bench")
logger.logLevel = .error
let password: String
do {
    password = try String(contentsOfFile: options.passwordFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
} catch {
    FileHandle.standardError.write(Data("airlock-ledger-bench: cannot read \(options.passwordFile): \(error)\n".utf8))
    exit(1)
}
let tenants = (0..<64).map { TenantPolicy(name: "t\($0)", tokensPerDay: Int(Int64.max / 4)) }
let settings = PostgresLedgerSettings(
    host: options.host,
    port: options.port,
    database: options.database,
    user: options.user,
    tls: .disable,
    timeout: .seconds(5),
    lease: .seconds(30),
    maxConnections: options.concurrency
)

do {
    try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
    let journalPath = options.directory + "/budget.journal"
    try? FileManager.default.removeItem(atPath: journalPath)
    let journal = try BudgetLedger(directory: options.directory, tenants: tenants, now: Int64(Date().timeIntervalSince1970))
    var routers: [PostgresLedger] = []
    for _ in 0..<4 {
        routers.append(try await PostgresLedger.open(settings: settings, password: password, tenants: tenants, logger: logger))
    }
    let seconds = options.seconds
    let c = options.concurrency
    print("Budget ledger: reserve 1,000 tokens + settle 100, \(seconds) s per line, PostgreSQL at \(options.host):\(options.port)")
    print("")
    print("| backend, routers × tasks, tenants | pairs/s | p50 µs | p99 µs | errors | refused |")
    print("|---|---|---|---|---|---|")
    _ = await measure([routers[0]], tenants: 1, concurrency: 1, seconds: 1)  // warm-up
    print(row("journal, 1 × 1, 1", await measure([journal], tenants: 1, concurrency: 1, seconds: seconds), seconds: seconds))
    print(row("postgres, 1 × 1, 1", await measure([routers[0]], tenants: 1, concurrency: 1, seconds: seconds), seconds: seconds))
    print(row("journal, 1 × \(c), 1", await measure([journal], tenants: 1, concurrency: c, seconds: seconds), seconds: seconds))
    print(row("postgres, 1 × \(c), 1", await measure([routers[0]], tenants: 1, concurrency: c, seconds: seconds), seconds: seconds))
    print(row("postgres, 4 × \(c), 1", await measure(routers, tenants: 1, concurrency: c, seconds: seconds), seconds: seconds))
    print(row("postgres, 1 × \(c), 64", await measure([routers[0]], tenants: 64, concurrency: c, seconds: seconds), seconds: seconds))
    print(row("postgres, 4 × \(c), 64", await measure(routers, tenants: 64, concurrency: c, seconds: seconds), seconds: seconds))
    for router in routers { await router.close() }
    await journal.close()
} catch {
    FileHandle.standardError.write(Data("airlock-ledger-bench: \(error)\n".utf8))
    exit(1)
}
