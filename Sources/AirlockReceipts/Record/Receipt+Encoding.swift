extension Receipt {
    /// The record format version written in `v`.
    public static let formatVersion: Int64 = 1

    /// Field names defined by format version 1. Extensions may not reuse them.
    public static let standardFieldNames: Set<String> = [
        "v", "origin", "index", "time", "kind", "sandbox", "tenant", "uid", "route", "provider", "upstream", "model",
        "decision", "reason", "status", "attempts", "tokens_in", "tokens_out", "latency_us", "trace_id",
        "policy_digest", "request_hmac", "response_hmac", "request_index", "host", "port", "address", "bytes_up",
        "bytes_down", "duration_us", "count", "server", "method", "tool", "tool_digest", "is_error",
    ]

    /// The members of the record except `index`, validated.
    func members(origin: String, defaultTime: Int64) throws(ReceiptLogError) -> [(String, ReceiptValue)] {
        var members: [(String, ReceiptValue)] = [
            ("v", .integer(Self.formatVersion)),
            ("origin", .string(origin)),
            ("time", .integer(time ?? defaultTime)),
            ("kind", .string(kind.rawValue)),
        ]
        func add(_ name: String, _ value: String?) { if let value { members.append((name, .string(value))) } }
        func add(_ name: String, _ value: Int64?) { if let value { members.append((name, .integer(value))) } }
        add("sandbox", sandbox)
        add("tenant", tenant)
        add("uid", uid)
        add("route", route)
        add("provider", provider)
        add("upstream", upstream)
        add("model", model)
        add("decision", decision)
        add("reason", reason)
        add("status", status)
        add("attempts", attempts)
        add("count", count)
        add("tokens_in", tokensIn)
        add("tokens_out", tokensOut)
        add("latency_us", latencyMicroseconds)
        add("trace_id", traceID)
        add("policy_digest", policyDigest)
        add("request_hmac", requestHMAC?.hex)
        add("response_hmac", responseHMAC?.hex)
        if let requestIndex {
            guard requestIndex <= UInt64(Int64.max) else {
                throw ReceiptLogError(.invalidRecord, "request_index \(requestIndex) is out of range")
            }
            add("request_index", Int64(requestIndex))
        }
        if let egress {
            add("host", egress.host)
            add("port", egress.port)
            add("address", egress.address)
            add("bytes_up", egress.bytesUp)
            add("bytes_down", egress.bytesDown)
            add("duration_us", egress.durationMicroseconds)
            if mcp?.method == nil { add("method", egress.method) }
        }
        if let mcp {
            add("server", mcp.server)
            add("method", mcp.method)
            add("tool", mcp.tool)
            add("tool_digest", mcp.toolDigest)
            add("is_error", mcp.isError)
        }
        for (name, value) in extensions.sorted(by: { $0.key < $1.key }) {
            guard Self.isValidExtensionName(name) else {
                throw ReceiptLogError(
                    .invalidRecord,
                    "extension field name '\(name)' is invalid: use [a-z][a-z0-9_]*, at most 64 bytes, not a standard field"
                )
            }
            members.append((name, value))
        }
        for (name, value) in members {
            if case .string(let string) = value, string.utf8.count > Self.maxStringBytes {
                throw ReceiptLogError(
                    .invalidRecord,
                    "field '\(name)' is \(string.utf8.count) bytes, more than \(Self.maxStringBytes); receipts hold codes and identifiers, never bodies (use BodyHasher for bodies)"
                )
            }
        }
        return members
    }

    static func isValidExtensionName(_ name: String) -> Bool {
        let utf8 = Array(name.utf8)
        guard let first = utf8.first, utf8.count <= 64, !standardFieldNames.contains(name) else { return false }
        guard first >= UInt8(ascii: "a"), first <= UInt8(ascii: "z") else { return false }
        return utf8.allSatisfy {
            ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                || $0 == UInt8(ascii: "_")
        }
    }
}
