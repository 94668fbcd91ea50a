#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy
import Synchronization

/// Tenant token budgets per UTC day and UTC month, counted from upstream usage and kept across restarts.
///
/// Every charge is appended to `budget.journal` with one `write(2)` before `charge` returns, so a router
/// that is killed loses nothing it has counted; `fdatasync` runs at most every `syncInterval` (and on
/// `close`), which bounds what a power loss can drop. On open the journal is replayed, a torn last line is
/// ignored, and the file is compacted to one line per tenant and day of the current month (temp file, fsync,
/// rename, directory fsync).
public final class BudgetLedger: Sendable {
    public enum Period: String, Sendable {
        case day, month
    }

    public enum Decision: Sendable, Equatable {
        case allowed
        /// Spent; the period resets after `retryAfterSeconds`.
        case exceeded(Period, retryAfterSeconds: Int64)
    }

    struct Limits: Sendable {
        var perDay: Int?
        var perMonth: Int?
    }

    struct State: Sendable {
        var fd: Int32
        /// Tokens by tenant, by day ("YYYY-MM-DD").
        var usage: [String: [String: Int]]
        var dirty: Bool
    }

    public let path: String
    private let limitsBox: Locked<[String: Limits]>
    private let state: Mutex<State>

    public init(directory: String, tenants: [TenantPolicy], now: Int64) throws {
        let path = directory + "/budget.journal"
        self.path = path
        limitsBox = Locked(Self.limits(tenants))
        let usage = try Self.replay(path: path)
        let month = String(UTCCalendar.month(ofDay: UTCCalendar.day(now)))
        let current = usage.mapValues { $0.filter { $0.key.hasPrefix(month) } }.filter { !$0.value.isEmpty }
        try DurableFile.replace(path, with: Self.render(current))
        let fd = try retryingEINTR("open", path) { open(path, O_WRONLY | O_APPEND | O_CLOEXEC) }
        state = Mutex(State(fd: fd, usage: current, dirty: false))
    }

    deinit {
        state.withLock { close($0.fd) }
    }

    static func limits(_ tenants: [TenantPolicy]) -> [String: Limits] {
        Dictionary(tenants.map { ($0.name, Limits(perDay: $0.tokensPerDay, perMonth: $0.tokensPerMonth)) }, uniquingKeysWith: { a, _ in a })
    }

    /// New budgets from a reloaded configuration; counted usage is kept.
    public func update(tenants: [TenantPolicy]) {
        let new = Self.limits(tenants)
        limitsBox.withLock { $0 = new }
    }

    /// The tenants with a budget, for metrics.
    var tenantsWithBudgets: [String] {
        limitsBox.withLock { $0.filter { $0.value.perDay != nil || $0.value.perMonth != nil }.keys.sorted() }
    }

    /// Whether `tenant` may start another request at `now` (seconds since the epoch).
    public func check(tenant: String, now: Int64) -> Decision {
        guard let limit = limitsBox.withLock({ $0[tenant] }), limit.perDay != nil || limit.perMonth != nil else { return .allowed }
        let day = UTCCalendar.day(now)
        let (dayUsed, monthUsed) = state.withLock { s in
            let days = s.usage[tenant] ?? [:]
            let month = UTCCalendar.month(ofDay: day)
            return (days[day] ?? 0, days.reduce(0) { $1.key.hasPrefix(month) ? $0.addingSaturating($1.value) : $0 })
        }
        if let perMonth = limit.perMonth, monthUsed >= perMonth {
            return .exceeded(.month, retryAfterSeconds: UTCCalendar.secondsToNextMonth(now))
        }
        if let perDay = limit.perDay, dayUsed >= perDay {
            return .exceeded(.day, retryAfterSeconds: UTCCalendar.secondsToNextDay(now))
        }
        return .allowed
    }

    /// Tokens left today and this month (nil where no budget is set).
    public func remaining(tenant: String, now: Int64) -> (day: Int?, month: Int?) {
        let limit = limitsBox.withLock { $0[tenant] } ?? Limits()
        let day = UTCCalendar.day(now)
        return state.withLock { s in
            let days = s.usage[tenant] ?? [:]
            let month = UTCCalendar.month(ofDay: day)
            let monthUsed = days.reduce(0) { $1.key.hasPrefix(month) ? $0.addingSaturating($1.value) : $0 }
            return (limit.perDay.map { max(0, $0 - (days[day] ?? 0)) }, limit.perMonth.map { max(0, $0 - monthUsed) })
        }
    }

    /// Counts `tokens` against `tenant` for the UTC day of `now`. The journal line is written before returning.
    public func charge(tenant: String, tokens: Int, now: Int64) throws {
        guard tokens > 0 else { return }
        let day = UTCCalendar.day(now)
        let line = Array("{\"day\":\"\(day)\",\"tenant\":\"\(tenant)\",\"tokens\":\(tokens)}\n".utf8)
        try state.withLock { s in
            try DurableFile.writeAll(s.fd, line, subject: path)
            s.usage[tenant, default: [:]][day, default: 0] = (s.usage[tenant]?[day] ?? 0).addingSaturating(tokens)
            s.dirty = true
        }
    }

    /// Makes every charge so far durable (fdatasync). Called periodically and at shutdown.
    public func sync() throws {
        let fd: Int32? = state.withLock { s in
            guard s.dirty else { return nil }
            s.dirty = false
            return s.fd
        }
        guard let fd else { return }
        try retryingEINTR("fdatasync", path) { fdatasync(fd) }
    }

    static func render(_ usage: [String: [String: Int]]) -> [UInt8] {
        var out = ""
        for tenant in usage.keys.sorted() {
            for (day, tokens) in usage[tenant]!.sorted(by: { $0.key < $1.key }) {
                out += "{\"day\":\"\(day)\",\"tenant\":\"\(tenant)\",\"tokens\":\(tokens)}\n"
            }
        }
        return Array(out.utf8)
    }

    static func replay(path: String) throws -> [String: [String: Int]] {
        guard let bytes = try DurableFile.read(path) else { return [:] }
        var usage: [String: [String: Int]] = [:]
        var start = 0
        var lineNumber = 0
        while let newline = bytes[start...].firstIndex(of: 0x0A) {
            lineNumber += 1
            let line = Array(bytes[start..<newline])
            start = newline + 1
            let scanner = JSONScanner(line)
            guard let root = try? scanner.validateDocument(), root.kind == .object,
                let day = scanner.value(of: root, key: "day").flatMap(scanner.string),
                let tenant = scanner.value(of: root, key: "tenant").flatMap(scanner.string),
                let tokens = scanner.value(of: root, key: "tokens").flatMap(scanner.integer), tokens >= 0
            else {
                throw BudgetLedgerError(path: path, line: lineNumber)
            }
            // Sums saturate: a journal written by a router that trusted absurd usage still opens (spent).
            usage[tenant, default: [:]][day, default: 0] = (usage[tenant]?[day] ?? 0).addingSaturating(tokens)
        }
        // Bytes after the last newline are a write torn by a crash: ignored, and dropped by compaction.
        return usage
    }
}

/// The budget journal has a line that is not a torn tail and cannot be read.
public struct BudgetLedgerError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var line: Int

    public var description: String {
        "\(path):\(line): unreadable budget journal line. The file is written only by the router; restore it from "
            + "backup, or move it aside to start counting from zero (budgets then restart for this month)."
    }
}
