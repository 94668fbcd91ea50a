/// Picks the known key an unknown one was probably meant to be.
enum KeySuggestion {
    /// The candidate closest to `key`, if one is within a small edit distance or differs only in case and `_`/`-`.
    static func closest(to key: String, among candidates: some Collection<String>) -> String? {
        let folded = fold(key)
        let limit = key.count <= 4 ? 1 : 2
        let ranked = candidates.compactMap { candidate -> (distance: Int, candidate: String)? in
            if fold(candidate) == folded { return (0, candidate) }
            let distance = editDistance(Array(key.lowercased()), Array(candidate.lowercased()))
            return distance <= limit ? (distance, candidate) : nil
        }
        return ranked.min { ($0.distance, $0.candidate) < ($1.distance, $1.candidate) }?.candidate
    }

    private static func fold(_ key: String) -> String {
        String(key.lowercased().filter { $0 != "_" && $0 != "-" })
    }

    /// Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions.
    static func editDistance(_ lhs: [Character], _ rhs: [Character]) -> Int {
        if lhs.isEmpty { return rhs.count }
        if rhs.isEmpty { return lhs.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: rhs.count + 1), count: lhs.count + 1)
        for row in 0...lhs.count { table[row][0] = row }
        for column in 0...rhs.count { table[0][column] = column }
        for row in 1...lhs.count {
            for column in 1...rhs.count {
                let cost = lhs[row - 1] == rhs[column - 1] ? 0 : 1
                var best = min(
                    table[row - 1][column] + 1, table[row][column - 1] + 1, table[row - 1][column - 1] + cost)
                if row > 1, column > 1, lhs[row - 1] == rhs[column - 2], lhs[row - 2] == rhs[column - 1] {
                    best = min(best, table[row - 2][column - 2] + 1)
                }
                table[row][column] = best
            }
        }
        return table[lhs.count][rhs.count]
    }
}
