import AirlockReceipts
import ArgumentParser

/// `airlock policy suggest`: turns a receipt log's egress records into `egress.allow` entries for an operator to
/// review, per sandbox. By default it reads the destinations opened under `egress.mode: learn` (reason `learned`);
/// `--include-refused` adds those refused as not on the allow list.
struct PolicySuggestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suggest",
        abstract: "Suggest egress allow lists from a receipt log's learned (and, optionally, refused) destinations."
    )

    @Argument(help: "The receipt log directory.")
    var directory: String

    @Option(help: "Only this sandbox.")
    var sandbox: String?

    @Flag(help: "Also suggest destinations refused as not on the allow list (enforce mode).")
    var includeRefused = false

    struct Destination: Hashable, Comparable {
        let host: String
        let port: Int64

        /// The allow-list entry: `host` for port 443, else `host:port`; an IPv6 literal in brackets.
        var entry: String {
            if host.contains(":") { return "[\(host)]:\(port)" }
            return port == 443 ? host : "\(host):\(port)"
        }

        static func < (a: Destination, b: Destination) -> Bool { (a.host, a.port) < (b.host, b.port) }
    }

    func run() throws {
        var found: [String: [Destination: Int]] = [:]
        var records = 0
        do {
            try LogReader(directory: directory).forEach { entry in
                guard entry.kind == "egress", let name = entry["sandbox"]?.stringValue else { return true }
                if let sandbox, name != sandbox { return true }
                let reason = entry["reason"]?.stringValue
                guard reason == "learned" || (includeRefused && reason == "not_allowlisted") else { return true }
                guard let host = entry["host"]?.stringValue, !host.isEmpty, let port = entry["port"]?.integerValue else {
                    return true
                }
                records += 1
                found[name, default: [:]][Destination(host: host, port: port), default: 0] += 1
                return true
            }
        } catch {
            printError("airlock policy suggest: cannot read the receipt log in \(directory): \(error)")
            throw ExitCode(1)
        }
        let what = includeRefused ? "learned or refused" : "learned"
        guard !found.isEmpty else {
            print("# no \(what) egress destinations in \(directory)\(sandbox.map { " for sandbox \($0)" } ?? "")")
            if !includeRefused {
                print("# run the sandbox with egress.mode: learn first, or pass --include-refused")
            }
            return
        }
        print("# airlock policy suggest: \(records) \(what) egress record(s) in \(directory)")
        print("# Review every entry before adding it: each is a destination the sandbox reached or tried to reach.")
        print("sandboxes:")
        for name in found.keys.sorted() {
            print("  - name: \(name)")
            print("    egress:")
            print("      allow:")
            let destinations = found[name, default: [:]]
            for destination in destinations.keys.sorted() {
                let count = destinations[destination, default: 0]
                print("        - \"\(destination.entry)\"  # \(count) time\(count == 1 ? "" : "s")")
            }
        }
    }
}
