/// UTC calendar days and months from Unix time, without Foundation.
enum UTCCalendar {
    /// "YYYY-MM-DD" for the UTC day containing `seconds` since the epoch.
    static func day(_ seconds: Int64) -> String {
        let (y, m, d) = civil(daysSinceEpoch: floorDiv(seconds, 86_400))
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    /// "YYYY-MM" of a "YYYY-MM-DD" day.
    static func month(ofDay day: String) -> Substring {
        day.prefix(7)
    }

    /// Seconds from `seconds` until the next UTC midnight.
    static func secondsToNextDay(_ seconds: Int64) -> Int64 {
        86_400 - (seconds - floorDiv(seconds, 86_400) * 86_400)
    }

    /// Seconds from `seconds` until the first of the next UTC month.
    static func secondsToNextMonth(_ seconds: Int64) -> Int64 {
        let days = floorDiv(seconds, 86_400)
        let (y, m, _) = civil(daysSinceEpoch: days)
        let next = m == 12 ? daysFromCivil(y + 1, 1, 1) : daysFromCivil(y, m + 1, 1)
        return next * 86_400 - seconds
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a / b : -((-a + b - 1) / b)
    }

    private static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    // Howard Hinnant's civil-from-days algorithm (proleptic Gregorian).
    static func civil(daysSinceEpoch z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
