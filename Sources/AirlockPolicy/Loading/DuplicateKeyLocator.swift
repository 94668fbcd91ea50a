import Yams

/// Finds the path and the second occurrence of a duplicated key.
///
/// Yams rejects duplicate keys while composing and reports only the first occurrence, with no tree to take a key
/// path from. So the first occurrence is renamed in a copy of the text, the copy composed, and the renamed key's
/// mapping searched for the key's other occurrence.
enum DuplicateKeyLocator {
    private static let marker = "airlock-duplicate-key-marker-"

    static func error(key: String, firstAt first: Mark, text: String, file: String) -> ConfigError {
        let hint = "Keep only one of them; a key may appear once in each mapping."
        guard let marked = insert(marker, at: first, in: text),
            let parser = try? Parser(yaml: marked, resolver: .default, constructor: .default, encoding: .utf8),
            let root = try? parser.nextRoot(),
            let (path, second) = find(key, in: root, at: .root)
        else {
            return ConfigError(
                .duplicateKey,
                "duplicate key `\(key)`",
                hint: hint,
                file: file,
                location: ConfigLocation(first)
            )
        }
        let shift = second.line == first.line && second.column > first.column ? marker.unicodeScalars.count : 0
        return ConfigError(
            .duplicateKey,
            "duplicate key `\(key)` \(path.spoken), first written at line \(first.line), column \(first.column)",
            hint: hint,
            path: path.key(key),
            file: file,
            location: ConfigLocation(line: second.line, column: second.column - shift)
        )
    }

    private static func find(_ key: String, in node: Node, at path: ConfigPath) -> (ConfigPath, Mark)? {
        switch node {
        case .mapping(let mapping):
            let keys = mapping.map(\.key.scalar?.string)
            if keys.contains(where: { $0?.hasPrefix(marker) == true }),
                let second = mapping.first(where: { $0.key.scalar?.string == key })?.key.mark
            {
                return (path, second)
            }
            for (member, value) in mapping {
                if let found = find(key, in: value, at: path.key(member.scalar?.string ?? "")) { return found }
            }
            return nil
        case .sequence(let sequence):
            for (position, element) in sequence.enumerated() {
                if let found = find(key, in: element, at: path.index(position)) { return found }
            }
            return nil
        case .scalar, .alias:
            return nil
        }
    }

    private static func insert(_ marker: String, at mark: Mark, in text: String) -> String? {
        var result = String.UnicodeScalarView()
        var line = 1
        var column = 1
        var inserted = false
        var previous: Unicode.Scalar?
        for scalar in text.unicodeScalars {
            if !inserted && line == mark.line && column == mark.column {
                result.append(contentsOf: marker.unicodeScalars)
                inserted = true
            }
            result.append(scalar)
            if scalar == "\r" || (scalar == "\n" && previous != "\r") {
                line += 1
                column = 1
            } else if scalar != "\n" {
                column += 1
            }
            previous = scalar
        }
        return inserted ? String(result) : nil
    }
}
