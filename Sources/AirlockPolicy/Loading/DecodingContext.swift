import Yams

/// What one decode call shares across its containers: the file, the source map, and which keys were asked for.
final class DecodingContext {
    struct MappingUsage {
        let path: ConfigPath
        let members: [(key: String, location: ConfigLocation)]
        var asked: Set<String> = []
        var acceptsAnyKey = false
    }

    let sourceMap: ConfigSourceMap
    private var usages: [[ConfigPath.LookupStep]: MappingUsage] = [:]

    init(sourceMap: ConfigSourceMap) {
        self.sourceMap = sourceMap
    }

    var file: String { sourceMap.file }

    func register(_ mapping: Node.Mapping, at path: ConfigPath) {
        guard usages[path.lookupKey] == nil else { return }
        let members = mapping.compactMap { member -> (key: String, location: ConfigLocation)? in
            guard let key = member.key.scalar?.string else { return nil }
            return (key, member.key.mark.map(ConfigLocation.init) ?? ConfigLocation(line: 1, column: 1))
        }
        usages[path.lookupKey] = MappingUsage(path: path, members: members)
    }

    func markAsked(_ key: String, at path: ConfigPath) {
        usages[path.lookupKey]?.asked.insert(key)
    }

    /// Dictionaries read every key through `allKeys`: any key is welcome, and keys print as `["name"]`.
    func markAcceptsAnyKey(at path: ConfigPath) {
        usages[path.lookupKey]?.acceptsAnyKey = true
    }

    func acceptsAnyKey(at path: ConfigPath) -> Bool {
        usages[path.lookupKey]?.acceptsAnyKey ?? false
    }

    /// The first key in the file that no type asked for.
    func firstUnknownKey() -> ConfigError? {
        let unknown = usages.values.filter { !$0.acceptsAnyKey }.flatMap { usage in
            usage.members.filter { !usage.asked.contains($0.key) }.map { (usage: usage, member: $0) }
        }
        guard
            let first = unknown.min(by: { lhs, rhs in
                (lhs.member.location.line, lhs.member.location.column)
                    < (rhs.member.location.line, rhs.member.location.column)
            })
        else { return nil }
        let usage = first.usage
        let present = Set(usage.members.map(\.key))
        let hint: String
        if let suggestion = KeySuggestion.closest(to: first.member.key, among: usage.asked.subtracting(present))
            ?? KeySuggestion.closest(to: first.member.key, among: usage.asked)
        {
            hint = "Did you mean `\(suggestion)`?"
        } else if usage.asked.isEmpty {
            hint = "Remove it; this mapping takes no keys."
        } else {
            hint = "Remove it, or use one of: \(usage.asked.sorted().joined(separator: ", "))."
        }
        return ConfigError(
            .unknownKey,
            "unknown key `\(first.member.key)` \(usage.path.spoken)",
            hint: hint,
            path: usage.path.key(first.member.key),
            file: file,
            location: first.member.location
        )
    }

    /// A key present at `path` that nothing asked for yet and that looks like a misspelling of `key`.
    func misspelling(of key: String, at path: ConfigPath) -> (key: String, location: ConfigLocation)? {
        guard let usage = usages[path.lookupKey] else { return nil }
        let candidates = usage.members.filter { !usage.asked.contains($0.key) }
        return candidates.first { KeySuggestion.closest(to: $0.key, among: [key]) != nil }
    }

    /// An error at `path`, located at `node`.
    func error(
        _ code: ConfigError.Code,
        _ message: String,
        hint: String? = nil,
        at path: ConfigPath,
        node: Node
    ) -> ConfigError {
        let location = node.mark.map(ConfigLocation.init) ?? sourceMap.nearestLocation(of: path)
        return ConfigError(code, message, hint: hint, path: path, file: file, location: location)
    }
}
