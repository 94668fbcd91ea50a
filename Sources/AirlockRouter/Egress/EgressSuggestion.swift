import AirlockReceipts

/// `airlock policy suggest`: the destinations a log's egress receipts show a learn-mode sandbox reaching although its
/// allow list would have refused them (`learn_not_allowlisted`, `learn_denylisted`), as allow entries for the
/// operator to review. Nothing is applied.
public struct EgressSuggestion: Sendable, Equatable {
    public struct Destination: Sendable, Equatable {
        /// `host:port`, as an `allow` entry (an IPv6 literal in brackets).
        public var entry: String
        public var tunnels: Int
        /// Whether the deny list named it (then adding it to `allow` changes nothing: deny wins).
        public var denylisted: Bool
    }

    /// Per sandbox, in name order; destinations in entry order.
    public var sandboxes: [(name: String, destinations: [Destination])]

    public static func == (a: EgressSuggestion, b: EgressSuggestion) -> Bool {
        a.sandboxes.map(\.name) == b.sandboxes.map(\.name) && a.sandboxes.map(\.destinations) == b.sandboxes.map(\.destinations)
    }

    /// Reads the log in `directory` (every record, in order); `sandbox` keeps one sandbox only.
    public static func collect(directory: String, sandbox only: String? = nil) throws -> EgressSuggestion {
        var found: [String: [String: Destination]] = [:]
        try LogReader(directory: directory).forEach { entry in
            guard entry.kind == "egress", let reason = entry["reason"]?.stringValue, reason.hasPrefix("learn_"),
                let sandbox = entry["sandbox"]?.stringValue, only == nil || only == sandbox,
                let host = entry["host"]?.stringValue, let port = entry["port"]?.integerValue
            else { return true }
            let entryText = (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
            var destination = found[sandbox]?[entryText] ?? Destination(entry: entryText, tunnels: 0, denylisted: false)
            destination.tunnels += 1
            if reason == "learn_denylisted" { destination.denylisted = true }
            found[sandbox, default: [:]][entryText] = destination
            return true
        }
        return EgressSuggestion(sandboxes: found.keys.sorted().map { name in
            (name, (found[name] ?? [:]).values.sorted { $0.entry < $1.entry })
        })
    }

    /// YAML the operator can merge into `sandboxes[]`, with counts as comments.
    public var yaml: String {
        guard !sandboxes.isEmpty else { return "# no egress receipt of a learn-mode sandbox in this log\n" }
        var out = "# Destinations learn mode let through that the allow list would have refused. Review before use.\nsandboxes:\n"
        for (name, destinations) in sandboxes {
            out += "  - name: \(name)\n    egress:\n      allow:\n"
            for destination in destinations {
                let note = destination.denylisted ? "; on the deny list, which wins over allow" : ""
                out += "        - \"\(destination.entry)\"  # \(destination.tunnels) tunnel\(destination.tunnels == 1 ? "" : "s")\(note)\n"
            }
        }
        return out
    }
}
