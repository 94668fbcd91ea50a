import Foundation

/// The difference between the ruleset `apply` would write and the one the kernel holds.
public struct RulesetDrift: Equatable, Sendable {
    /// One line of a line diff.
    public enum Line: Hashable, Sendable {
        /// Expected but not live.
        case missing(String)
        /// Live but not expected.
        case unexpected(String)
    }

    /// True when the live table is absent altogether.
    public let tableMissing: Bool
    /// Differing lines in order; rule order matters to nftables, so a reordering shows as drift too.
    public let lines: [Line]

    /// True when live and expected agree.
    public var isEmpty: Bool { !tableMissing && lines.isEmpty }

    /// Compares the expected rendering with `nft list table` output (`nil` when the table does not exist).
    ///
    /// Both sides are normalised first: whitespace trimmed, blank lines and `# handle N` annotations dropped, so
    /// only what changes the verdicts counts.
    public static func compare(expected: String, live: String?) -> RulesetDrift {
        guard let live else { return RulesetDrift(tableMissing: true, lines: []) }
        return RulesetDrift(tableMissing: false, lines: diff(normalize(expected), normalize(live)))
    }

    /// A human-readable report: `- line` for missing, `+ line` for unexpected.
    public func report(tableName: String) -> String {
        if tableMissing { return "table inet \(tableName) is not present" }
        if lines.isEmpty { return "table inet \(tableName) matches the expected ruleset" }
        var out = ["table inet \(tableName) has drifted (- expected but missing, + present but unexpected):"]
        for line in lines {
            switch line {
            case .missing(let text): out.append("- \(text)")
            case .unexpected(let text): out.append("+ \(text)")
            }
        }
        return out.joined(separator: "\n")
    }

    static func normalize(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).compactMap { raw in
            var line = Substring(raw)
            if let hash = line.range(of: " # handle ") { line = line[..<hash.lowerBound] }
            let trimmed = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
            return trimmed.isEmpty ? nil : trimmed
        }
    }

    /// A longest-common-subsequence diff; rulesets are a few dozen lines, so quadratic is fine.
    static func diff(_ a: [String], _ b: [String]) -> [Line] {
        var table = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                table[i][j] = a[i] == b[j] ? table[i + 1][j + 1] + 1 : max(table[i + 1][j], table[i][j + 1])
            }
        }
        var out: [Line] = []
        var i = 0
        var j = 0
        while i < a.count || j < b.count {
            if i < a.count, j < b.count, a[i] == b[j] {
                i += 1
                j += 1
            } else if j < b.count, i == a.count || table[i][j + 1] >= table[i + 1][j] {
                out.append(.unexpected(b[j]))
                j += 1
            } else {
                out.append(.missing(a[i]))
                i += 1
            }
        }
        return out
    }
}
