/// The nftables ruleset that confines one UID to a few loopback TCP endpoints.
///
/// Design notes (why the rules look the way they do):
/// - One `inet` table, so a single set of rules covers IPv4 and IPv6; nothing the UID sends over IPv6 can slip past
///   an IPv4-only table.
/// - Only the `output` hook. Every packet a local socket sends passes it, after any NAT `output` chain (priority
///   -100) has rewritten the destination, so the rules see the address the packet will really go to. `forward` is
///   for routed packets, which have no owning socket and so no UID; `input` carries packets *to* the agent.
/// - `meta skuid` selects packets whose socket the UID owns; every other UID falls through and is unaffected.
/// - The allow rules match the exact destination address and TCP port, with no `ct state` condition. Every packet
///   the agent sends on an allowed connection (SYN, data, ACKs, FIN) goes to that same address and port, so the
///   return path is covered without a blanket `ct state established,related accept`, which would also let the
///   agent answer connections *initiated from outside* (a covert channel). Being stateless also means connections
///   opened before `apply` are cut, and nothing depends on conntrack being loaded.
/// - Everything else is rejected, not dropped, so tools fail at once instead of hanging: TCP with a reset (the
///   caller sees ECONNREFUSED); other protocols with ICMP administratively-prohibited, while the sending call
///   itself fails with EPERM. UDP and DNS to any address, 127.0.0.53 and ::1 included, land here.
/// - Rules are rendered exactly as `nft list table` prints them back, so `check` can compare text.
public struct EgressRuleset: Equatable, Sendable {
    /// The table name used when `--table` is not given.
    public static let defaultTableName = "airlock_egress"
    /// The base chain hooked on `output`.
    public static let outputChain = "output"
    /// The regular chain holding the per-UID verdicts.
    public static let agentChain = "agent"

    /// The confined UID.
    public let uid: UInt32
    /// The endpoints it may connect to, deduplicated, in the order given.
    public let allowed: [AllowedEndpoint]
    /// The `inet` table's name.
    public let tableName: String

    /// Validates the inputs; the table name is checked because it is pasted into the ruleset text.
    public init(uid: UInt32, allowed: [AllowedEndpoint], tableName: String = defaultTableName) throws(EgressGuardError)
    {
        // Root can delete the table; confining it would be theatre. (uid_t)-1 is the kernel's "no uid".
        guard uid != 0 else { throw .invalidUID(uid, reason: "refusing to confine root, which could remove the rules") }
        guard uid != UInt32.max else { throw .invalidUID(uid, reason: "4294967295 is (uid_t)-1, not a real UID") }
        guard !allowed.isEmpty else { throw .emptyAllowList }
        guard Self.isValidTableName(tableName) else { throw .invalidTableName(tableName) }
        var seen = Set<AllowedEndpoint>()
        self.uid = uid
        self.allowed = allowed.filter { seen.insert($0).inserted }
        self.tableName = tableName
    }

    /// Parses each `--allow` value and builds the ruleset.
    public init(uid: UInt32, allow: [String], tableName: String = defaultTableName) throws(EgressGuardError) {
        var endpoints: [AllowedEndpoint] = []
        for text in allow { endpoints.append(try AllowedEndpoint(parsing: text)) }
        try self.init(uid: uid, allowed: endpoints, tableName: tableName)
    }

    /// A plain nftables identifier: a letter, then letters, digits or `_`; at most 64 characters.
    public static func isValidTableName(_ name: String) -> Bool {
        guard let first = name.first, first.isASCII, first.isLetter, name.count <= 64 else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    /// The table definition, in `nft list table` format.
    public func render() -> String {
        var lines = ["table inet \(tableName) {"]
        lines.append("\tchain \(Self.outputChain) {")
        lines.append("\t\ttype filter hook output priority filter; policy accept;")
        lines.append("\t\tmeta skuid \(uid) jump \(Self.agentChain)")
        lines.append("\t}")
        lines.append("")
        lines.append("\tchain \(Self.agentChain) {")
        for endpoint in allowed {
            let match = endpoint.family == .ipv4 ? "ip daddr" : "ip6 daddr"
            lines.append("\t\t\(match) \(endpoint.address) tcp dport \(endpoint.port) accept")
        }
        lines.append("\t\tmeta l4proto tcp reject with tcp reset")
        lines.append("\t\treject with icmpx admin-prohibited")
        lines.append("\t}")
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The `nft -f -` script for `apply`: one transaction that creates the table if missing, deletes it, and
    /// defines it afresh. nft commits the whole file or nothing, so there is never a moment without rules and
    /// applying twice leaves exactly one copy.
    public func applyScript() -> String {
        "table inet \(tableName)\ndelete table inet \(tableName)\n" + render()
    }

    /// The `nft -f -` script for `remove`: same create-then-delete trick, so removing an absent table succeeds.
    public static func removeScript(tableName: String) throws(EgressGuardError) -> String {
        guard isValidTableName(tableName) else { throw .invalidTableName(tableName) }
        return "table inet \(tableName)\ndelete table inet \(tableName)\n"
    }
}
