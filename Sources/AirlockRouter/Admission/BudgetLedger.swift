#if canImport(Glibc)
import AirlockJSON
import Glibc
#endif
import AirlockPolicy
import NIOPosix
import Synchronization

/// Tenant token budgets per UTC day and UTC month, held by reservation and counted from upstream usage, kept
/// across restarts in `budget.journal`.
///
/// Every reservation and every settlement is one line appended with one `write(2)` before `reserve` or `settle`
/// returns, so a router that is killed loses nothing it has held or counted; `fdatasync` runs at most every
/// `syncInterval` (and on `close`), which bounds what a power loss can drop. Lines (tenant names are validated
/// `[a-z0-9._-]`, ids are hex and digits, so no line needs escaping):
///
///     {"reserve":"<id>","day":"YYYY-MM-DD","tenant":"<name>","tokens":N}   a hold for one request
///     {"settle":"<id>","day":"YYYY-MM-DD","tenant":"<name>","tokens":N}    what it cost; replaces its hold
///     {"day":"YYYY-MM-DD","tenant":"<name>","tokens":N}                    a charge (compacted, or no budget)
///
/// On open the journal is replayed: a settlement counts once however often it appears, and a reservation without
/// one (its router died with the request in flight, which may have generated) is charged in full. A torn last line
/// is ignored, and the file is compacted to one charge line per tenant and day of the current month (temp file,
/// fsync, rename, directory fsync), so no id outlives the run that wrote it.
public final class BudgetLedger: TokenLedger {
    public typealias Period = BudgetReservation.Period

    public enum Decision: Sendable, Equatable {
        case allowed
        /// Spent; the period resets after `retryAfterSeconds`.
        case exceeded(Period, retryAfterSeconds: Int64)
    }


    struct State: Sendable {
        var fd: Int32
        /// Tokens counted, by tenant, by day ("YYYY-MM-DD").
        var usage: [String: [String: Int]]
        /// Tokens held by open reservations, by tenant, by day.
        var held: [String: [String: Int]]
        var open: [String: BudgetReservation] = [:]
        var serial: UInt64 = 0
        var dirty: Bool

        /// Counted plus held, for `day` and its month.
        func spent(_ tenant: String, day: String) -> (day: Int, month: Int) {
            let month = UTCCalendar.month(ofDay: day)
            var today = 0
            var total = 0
            for table in [usage[tenant], held[tenant]] {
                for (d, tokens) in table ?? [:] where d.hasPrefix(month) {
                    total = total.addingSaturating(tokens)
                    if d == day { today = today.addingSaturating(tokens) }
                }
            }
            return (today, total)
        }
    }

    public let path: String
    /// This run's prefix of reservation ids: a journal replayed at start-up never meets an id of another run.
    private let run: String
    private let budgets: TenantBudgets
    private let state: Mutex<State>

    public init(directory: String, tenants: [TenantPolicy], now: Int64) throws {
        let path = directory + "/budget.journal"
        self.path = path
        run = String(RequestIDs.make().prefix(12))
        budgets = TenantBudgets(tenants)
        let usage = try Self.replay(path: path)
        let month = String(UTCCalendar.month(ofDay: UTCCalendar.day(now)))
        let current = usage.mapValues { $0.filter { $0.key.hasPrefix(month) } }.filter { !$0.value.isEmpty }
        try DurableFile.replace(path, with: Self.render(current))
        let fd = try retryingEINTR("open", path) { open(path, O_WRONLY | O_APPEND | O_CLOEXEC) }
        state = Mutex(State(fd: fd, usage: current, held: [:], dirty: false))
    }

    deinit {
        state.withLock { Glibc.close($0.fd) }
    }

    public func update(tenants: [TenantPolicy]) {
        budgets.update(tenants)
    }

    public var tenantsWithBudgets: [String] { budgets.withBudgets }

    public func hasBudget(tenant: String) -> Bool {
        budgets[tenant].any
    }

    /// Whether `tenant` has anything left at `now` (seconds since the epoch), holds counted.
    public func check(tenant: String, now: Int64) -> Decision {
        let limit = budgets[tenant]
        guard limit.any else { return .allowed }
        let day = UTCCalendar.day(now)
        let spent = state.withLock { $0.spent(tenant, day: day) }
        if let refusal = limit.refusal(spent: spent, tokens: 0, now: now) {
            return .exceeded(refusal.0, retryAfterSeconds: refusal.1)
        }
        return .allowed
    }

    public func reserve(tenant: String, tokens: Int, now: Int64) throws -> BudgetReservation.Decision {
        let day = UTCCalendar.day(now)
        let limit = budgets[tenant]
        guard limit.any else {
            return .reserved(BudgetReservation(id: "", tenant: tenant, day: day, tokens: 0))
        }
        let tokens = max(0, tokens)
        return try state.withLock { s throws -> BudgetReservation.Decision in
            if let (period, retry) = limit.refusal(spent: s.spent(tenant, day: day), tokens: tokens, now: now) {
                return .exceeded(period, retryAfterSeconds: retry)
            }
            s.serial += 1
            let reservation = BudgetReservation(id: "\(run).\(s.serial)", tenant: tenant, day: day, tokens: tokens)
            try DurableFile.writeAll(s.fd, Self.line("reserve", reservation.id, day: day, tenant: tenant, tokens: tokens), subject: path)
            s.open[reservation.id] = reservation
            s.held[tenant, default: [:]][day, default: 0] += tokens
            s.dirty = true
            return .reserved(reservation)
        }
    }

    public func settle(_ reservation: BudgetReservation, tokens: Int, now: Int64) throws {
        let tokens = max(0, tokens)
        guard reservation.holds else {
            try charge(tenant: reservation.tenant, tokens: tokens, now: now)
            return
        }
        let (tenant, day) = (reservation.tenant, reservation.day)
        try state.withLock { s in
            guard s.open[reservation.id] != nil else { return }
            // A failed write leaves the hold open: the journal's reservation is then charged in full at start-up.
            try DurableFile.writeAll(s.fd, Self.line("settle", reservation.id, day: day, tenant: tenant, tokens: tokens), subject: path)
            s.open[reservation.id] = nil
            s.held[tenant]?[day]? -= reservation.tokens
            if s.held[tenant]?[day] == 0 { s.held[tenant]?[day] = nil }
            s.usage[tenant, default: [:]][day, default: 0] = (s.usage[tenant]?[day] ?? 0).addingSaturating(tokens)
            s.dirty = true
        }
    }

    public func remaining(tenant: String, now: Int64) -> (day: Int?, month: Int?) {
        let limit = budgets[tenant]
        let spent = state.withLock { $0.spent(tenant, day: UTCCalendar.day(now)) }
        return limit.remaining(spent: spent)
    }

    /// Counts `tokens` against `tenant` for the UTC day of `now`, outside any reservation. The journal line is
    /// written before returning.
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

    /// fdatasync can take seconds on a busy disk: it runs on NIO's blocking-I/O pool, never on one of the few
    /// threads that run every request's tasks.
    public func sync() async throws {
        try await NIOThreadPool.singleton.runIfActive { try self.syncNow() }
    }

    /// Makes every line written so far durable, on the calling thread.
    public func syncNow() throws {
        let fd: Int32? = state.withLock { s in
            guard s.dirty else { return nil }
            s.dirty = false
            return s.fd
        }
        guard let fd else { return }
        try retryingEINTR("fdatasync", path) { fdatasync(fd) }
    }

    public func close() async {
        try? await sync()
    }

    private static func line(_ kind: String, _ id: String, day: String, tenant: String, tokens: Int) -> [UInt8] {
        Array("{\"\(kind)\":\"\(id)\",\"day\":\"\(day)\",\"tenant\":\"\(tenant)\",\"tokens\":\(tokens)}\n".utf8)
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

    /// Tokens by tenant and day: charges, settlements (each id once), and reservations never settled (in full).
    static func replay(path: String) throws -> [String: [String: Int]] {
        guard let bytes = try DurableFile.read(path) else { return [:] }
        var usage: [String: [String: Int]] = [:]
        var open: [String: (tenant: String, day: String, tokens: Int)] = [:]
        var settled = Set<String>()
        func add(_ tenant: String, _ day: String, _ tokens: Int) {
            // Sums saturate: a journal written by a router that trusted absurd usage still opens (spent).
            usage[tenant, default: [:]][day, default: 0] = (usage[tenant]?[day] ?? 0).addingSaturating(tokens)
        }
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
            let reserve = scanner.value(of: root, key: "reserve")
            let settle = scanner.value(of: root, key: "settle")
            switch (reserve.map { scanner.string($0) }, settle.map { scanner.string($0) }) {
            case (nil, nil):
                add(tenant, day, tokens)
            case (let id??, nil) where !id.isEmpty:
                if !settled.contains(id) && open[id] == nil { open[id] = (tenant, day, tokens) }
            case (nil, let id??) where !id.isEmpty:
                // A settlement written twice (or replayed twice) counts once.
                guard settled.insert(id).inserted else { continue }
                open[id] = nil
                add(tenant, day, tokens)
            default:
                throw BudgetLedgerError(path: path, line: lineNumber)
            }
        }
        // Bytes after the last newline are a write torn by a crash: ignored, and dropped by compaction.
        // A reservation never settled belongs to a request that was in flight when its router died: it may have
        // generated, so it is charged in full.
        for (_, held) in open { add(held.tenant, held.day, held.tokens) }
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
