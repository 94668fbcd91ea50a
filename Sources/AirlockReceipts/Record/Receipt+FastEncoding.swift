extension Receipt {
    /// The canonical record without its `index` value, in one buffer: the index digits go at `slot`.
    ///
    /// The standard fields have a fixed canonical order, so a receipt without extensions is written straight into
    /// one buffer in that order: no member list, no sorting, no intermediate strings. Returns nil when the general
    /// path (``members(origin:defaultTime:)`` and ``CanonicalJSON/encodeTemplate(_:slot:)``) must be taken: for
    /// extensions, or for any value that the general path rejects (it then throws its usual error). A test checks
    /// that both paths write the same bytes.
    func fastTemplate(origin: String, defaultTime: Int64) -> (bytes: [UInt8], slot: Int)? {
        guard extensions.isEmpty else { return nil }
        if let requestIndex, requestIndex > UInt64(Int64.max) { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(768)
        var ok = true
        var first = true
        func name(_ key: StaticString) {
            if first {
                out.append(UInt8(ascii: "{"))
                first = false
            } else {
                out.append(UInt8(ascii: ","))
            }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
            out.append(UInt8(ascii: "\""))
            out.append(UInt8(ascii: ":"))
        }
        func add(_ key: StaticString, _ value: String?) {
            guard let value else { return }
            if value.utf8.count > Self.maxStringBytes { ok = false }
            name(key)
            CanonicalJSON.appendString(value, to: &out)
        }
        func add(_ key: StaticString, _ value: Int64?) {
            guard let value else { return }
            name(key)
            FastDecimal.append(value, to: &out)
        }
        func add(_ key: StaticString, _ value: BodyDigest?) {
            guard let value else { return }
            name(key)
            out.append(UInt8(ascii: "\""))
            Hex.appendLowercase(value.bytes, to: &out)
            out.append(UInt8(ascii: "\""))
        }
        // Canonical (byte) order of the standard names.
        add("address", egress?.address)
        add("attempts", attempts)
        add("bytes_down", egress?.bytesDown)
        add("bytes_up", egress?.bytesUp)
        add("count", count)
        add("decision", decision)
        add("duration_us", egress?.durationMicroseconds)
        add("host", egress?.host)
        name("index")
        let slot = out.count
        add("is_error", mcp?.isError)
        add("kind", kind.rawValue)
        add("latency_us", latencyMicroseconds)
        add("method", mcp?.method ?? egress?.method)
        add("model", model)
        add("origin", origin)
        add("policy_digest", policyDigest)
        add("port", egress?.port)
        add("provider", provider)
        add("reason", reason)
        add("request_hmac", requestHMAC)
        add("request_index", requestIndex.map { Int64($0) })
        add("response_hmac", responseHMAC)
        add("route", route)
        add("sandbox", sandbox)
        add("server", mcp?.server)
        add("status", status)
        add("tenant", tenant)
        add("time", time ?? defaultTime)
        add("tokens_in", tokensIn)
        add("tokens_out", tokensOut)
        add("tool", mcp?.tool)
        add("tool_digest", mcp?.toolDigest)
        add("trace_id", traceID)
        add("uid", uid)
        add("upstream", upstream)
        add("v", Self.formatVersion)
        out.append(UInt8(ascii: "}"))
        return ok ? (out, slot) : nil
    }
}

/// Decimal digits without going through `String`.
enum FastDecimal {
    static func append(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        append(unsigned: value.magnitude, to: &out)
    }

    static func append(unsigned value: UInt64, to out: inout [UInt8]) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for the 20 digits of UInt64.max
        withUnsafeMutableBytes(of: &digits) { buffer in
            var position = buffer.count
            var rest = value
            repeat {
                position -= 1
                buffer[position] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[position...]))
        }
    }
}

extension Hex {
    private static let lowercaseDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends lowercase hex of `bytes` to `out`.
    static func appendLowercase(_ bytes: [UInt8], to out: inout [UInt8]) {
        lowercaseDigits.withUnsafeBufferPointer { digits in
            for byte in bytes {
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0x0f)])
            }
        }
    }
}
