import Yams

/// Walks a composed tree once: records where every value was written and rejects the YAML features that make a
/// policy file implicit (merge keys, anchors and aliases, explicit tags, keys that are not text).
struct NodeIndexer {
    private var entries: [[ConfigPath.LookupStep]: ConfigSourceMap.Entry] = [:]
    private var issues: [(rank: Int, error: ConfigError)] = []
    private let file: String

    static func index(_ root: Node, file: String) throws -> [[ConfigPath.LookupStep]: ConfigSourceMap.Entry] {
        var indexer = NodeIndexer(file: file)
        indexer.visit(root, at: .root, keyLocation: nil)
        if let first = indexer.issues.min(by: { lhs, rhs in
            (lhs.rank, lhs.error.line ?? 0, lhs.error.column ?? 0) < (
                rhs.rank, rhs.error.line ?? 0, rhs.error.column ?? 0
            )
        }) {
            throw first.error
        }
        return indexer.entries
    }

    private init(file: String) {
        self.file = file
    }

    private mutating func visit(_ node: Node, at path: ConfigPath, keyLocation: ConfigLocation?) {
        let location = node.mark.map(ConfigLocation.init) ?? keyLocation ?? ConfigLocation(line: 1, column: 1)
        entries[path.lookupKey] = ConfigSourceMap.Entry(key: keyLocation, value: location)
        if let anchor = node.anchor {
            report(
                rank: 1,
                .anchorOrAlias,
                "anchors and aliases (&\(anchor.rawValue), *\(anchor.rawValue)) are not allowed",
                hint: AnchorRule.hint,
                path: path,
                location: location
            )
        }
        checkTag(of: node, at: path, location: location)
        switch node {
        case .mapping(let mapping):
            for (key, value) in mapping {
                visitMember(key: key, value: value, in: path)
            }
        case .sequence(let sequence):
            for (position, element) in sequence.enumerated() {
                visit(element, at: path.index(position), keyLocation: nil)
            }
        case .scalar, .alias:
            break
        }
    }

    private mutating func visitMember(key: Node, value: Node, in path: ConfigPath) {
        let keyLocation = key.mark.map(ConfigLocation.init)
        guard case .scalar(let scalar) = key else {
            report(
                rank: 3,
                .typeMismatch,
                "expected a text key, got \(ScalarValue.describe(key))",
                hint: "Keys must be plain words or quoted strings.",
                path: path,
                location: keyLocation
            )
            return
        }
        if scalar.style == .plain && scalar.string == "<<" {
            report(
                rank: 0,
                .mergeKey,
                "merge keys (<<) are not allowed",
                hint: AnchorRule.hint,
                path: path,
                location: keyLocation
            )
        }
        visit(value, at: path.key(scalar.string), keyLocation: keyLocation)
    }

    private mutating func checkTag(of node: Node, at path: ConfigPath, location: ConfigLocation) {
        // Yams resolves tags in place, so a tag equal to what YAML would infer cannot be told from no tag at all;
        // such a tag changes nothing and passes.
        let written: String
        let allowed: Set<String>
        switch node {
        case .scalar(let scalar):
            written = scalar.tag.rawValue
            let implicit = scalar.style == .plain ? ScalarValue.implicitTag(of: scalar.string) : Tag.Name.str.rawValue
            allowed = [Tag.Name.str.rawValue, implicit]
        case .mapping(let mapping):
            written = mapping.tag.rawValue
            allowed = [Tag.Name.map.rawValue]
        case .sequence(let sequence):
            written = sequence.tag.rawValue
            allowed = [Tag.Name.seq.rawValue]
        case .alias:
            return
        }
        guard written != Tag.Name.implicit.rawValue, !allowed.contains(written) else { return }
        report(
            rank: 2,
            .explicitTag,
            "explicit YAML tags are not allowed, got `\(Self.shortTag(written))`",
            hint: "Remove the tag; each field already knows its type.",
            path: path,
            location: location
        )
    }

    private static func shortTag(_ tag: String) -> String {
        let standard = "tag:yaml.org,2002:"
        return tag.hasPrefix(standard) ? "!!" + tag.dropFirst(standard.count) : tag
    }

    private mutating func report(
        rank: Int,
        _ code: ConfigError.Code,
        _ message: String,
        hint: String,
        path: ConfigPath,
        location: ConfigLocation?
    ) {
        issues.append((rank, ConfigError(code, message, hint: hint, path: path, file: file, location: location)))
    }
}
