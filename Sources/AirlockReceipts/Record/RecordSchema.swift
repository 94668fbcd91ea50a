#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The members of a format-version-1 record (docs/receipts.md section 3): the one table that both the writer and
/// the verifier check records against, so that the log never holds a record its own verifier refuses.
enum RecordSchema {
    /// Every member format version 1 defines. No other member may appear.
    enum Member: UInt8, CaseIterable {
        case address, attempts, bytesDown, bytesUp, count, decision, durationUs, host, index, isError, keys, kind
        case latencyUs, method, model, origin, policyDigest, port, provider, reason, requestHMAC, requestIndex
        case responseHMAC, route, sandbox, server, status, tenant, time, tokensIn, tokensOut, tool, toolDigest
        case traceID, tornBytes, uid, upstream, v

        var name: String { staticName.description }

        var staticName: StaticString {
            switch self {
            case .address: "address"
            case .attempts: "attempts"
            case .bytesDown: "bytes_down"
            case .bytesUp: "bytes_up"
            case .count: "count"
            case .decision: "decision"
            case .durationUs: "duration_us"
            case .host: "host"
            case .index: "index"
            case .isError: "is_error"
            case .keys: "keys"
            case .kind: "kind"
            case .latencyUs: "latency_us"
            case .method: "method"
            case .model: "model"
            case .origin: "origin"
            case .policyDigest: "policy_digest"
            case .port: "port"
            case .provider: "provider"
            case .reason: "reason"
            case .requestHMAC: "request_hmac"
            case .requestIndex: "request_index"
            case .responseHMAC: "response_hmac"
            case .route: "route"
            case .sandbox: "sandbox"
            case .server: "server"
            case .status: "status"
            case .tenant: "tenant"
            case .time: "time"
            case .tokensIn: "tokens_in"
            case .tokensOut: "tokens_out"
            case .tool: "tool"
            case .toolDigest: "tool_digest"
            case .traceID: "trace_id"
            case .tornBytes: "torn_bytes"
            case .uid: "uid"
            case .upstream: "upstream"
            case .v: "v"
            }
        }

        var isString: Bool {
            switch self {
            case .address, .decision, .host, .keys, .kind, .method, .model, .origin, .policyDigest, .provider, .reason,
                .requestHMAC, .responseHMAC, .route, .sandbox, .server, .tenant, .tool, .toolDigest, .traceID, .upstream:
                true
            default: false
            }
        }
    }

    /// The longest member name a record may hold.
    static let maxNameBytes = 64
    /// The longest string value, in bytes of UTF-8 (after unescaping).
    static let maxStringBytes = 512
    /// The longest reason code.
    static let maxCodeBytes = 64

    static let kinds: [StaticString] = ["request", "completion", "egress", "mcp", "admin"]
    static let decisions: [StaticString] = ["allow", "deny", "ok", "error"]
    /// The admin record that announces the signing keys; the only record that holds `keys`.
    static let keysChanged: StaticString = "signing_keys_changed"

    /// The member named by `count` bytes at `s`, or nil if version 1 does not define it. Runs for every member of
    /// every record, so it picks the one candidate by length and first bytes and compares once, without allocating.
    @inline(__always)
    static func member(_ s: UnsafePointer<UInt8>, _ count: Int) -> Member? {
        let candidate: Member?
        switch count {
        case 1: candidate = .v
        case 3: candidate = .uid
        case 4:
            switch s[0] {
            case UInt8(ascii: "h"): candidate = .host
            case UInt8(ascii: "k"): candidate = s[2] == UInt8(ascii: "y") ? .keys : .kind
            case UInt8(ascii: "p"): candidate = .port
            default: candidate = s[1] == UInt8(ascii: "o") ? .tool : .time
            }
        case 5:
            switch s[0] {
            case UInt8(ascii: "c"): candidate = .count
            case UInt8(ascii: "i"): candidate = .index
            case UInt8(ascii: "m"): candidate = .model
            default: candidate = .route
            }
        case 6:
            switch s[0] {
            case UInt8(ascii: "m"): candidate = .method
            case UInt8(ascii: "o"): candidate = .origin
            case UInt8(ascii: "r"): candidate = .reason
            case UInt8(ascii: "s"): candidate = s[1] == UInt8(ascii: "t") ? .status : .server
            default: candidate = .tenant
            }
        case 7: candidate = s[0] == UInt8(ascii: "a") ? .address : .sandbox
        case 8:
            switch s[0] {
            case UInt8(ascii: "a"): candidate = .attempts
            case UInt8(ascii: "b"): candidate = .bytesUp
            case UInt8(ascii: "d"): candidate = .decision
            case UInt8(ascii: "i"): candidate = .isError
            case UInt8(ascii: "p"): candidate = .provider
            case UInt8(ascii: "t"): candidate = .traceID
            default: candidate = .upstream
            }
        case 9: candidate = .tokensIn
        case 10:
            switch s[0] {
            case UInt8(ascii: "b"): candidate = .bytesDown
            case UInt8(ascii: "l"): candidate = .latencyUs
            default: candidate = s[1] == UInt8(ascii: "o") && s[2] == UInt8(ascii: "k") ? .tokensOut : .tornBytes
            }
        case 11: candidate = s[0] == UInt8(ascii: "d") ? .durationUs : .toolDigest
        case 12: candidate = .requestHMAC
        case 13:
            switch s[2] {
            case UInt8(ascii: "l"): candidate = .policyDigest
            case UInt8(ascii: "q"): candidate = .requestIndex
            default: candidate = .responseHMAC
            }
        default: candidate = nil
        }
        guard let candidate else { return nil }
        let name = candidate.staticName
        guard name.utf8CodeUnitCount == count else { return nil }
        let expected = name.utf8Start
        for i in 0..<count where expected[i] != s[i] { return nil }
        return candidate
    }

    /// Whether `raw` holds exactly the bytes of `word`.
    @inline(__always)
    static func equals(_ raw: UnsafeRawBufferPointer, _ word: StaticString) -> Bool {
        guard raw.count == word.utf8CodeUnitCount else { return false }
        let expected = word.utf8Start
        for i in 0..<raw.count where expected[i] != raw[i] { return false }
        return true
    }

    /// Whether a name matches `[a-z][a-z0-9_]*` and is at most 64 bytes.
    static func isWellFormedName(_ raw: UnsafeRawBufferPointer) -> Bool {
        guard let first = raw.first, raw.count <= maxNameBytes, first >= UInt8(ascii: "a"), first <= UInt8(ascii: "z")
        else { return false }
        return raw.allSatisfy(isCodeByte)
    }

    @inline(__always)
    private static func isCodeByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
            || c == UInt8(ascii: "_")
    }

    /// The length in bytes of an escaped string's UTF-8 text.
    static func unescapedCount(_ raw: UnsafeRawBufferPointer) -> Int {
        var count = 0
        var i = 0
        while i < raw.count {
            if raw[i] == UInt8(ascii: "\\") { i += raw[i + 1] == UInt8(ascii: "u") ? 6 : 2 } else { i += 1 }
            count += 1
        }
        return count
    }

    /// Why a string value is not allowed for `member`, or nil. `raw` is the escaped text inside the quotes.
    static func stringProblem(_ member: Member, _ raw: UnsafeRawBufferPointer) -> String? {
        if raw.count > maxStringBytes, unescapedCount(raw) > maxStringBytes {
            return "is \(unescapedCount(raw)) bytes, more than \(maxStringBytes)"
        }
        switch member {
        case .kind:
            return oneOf(raw, kinds) ? nil : "is not one of \(kinds.map(\.description).joined(separator: ", "))"
        case .decision:
            return oneOf(raw, decisions) ? nil : "is not one of \(decisions.map(\.description).joined(separator: ", "))"
        case .reason:
            guard let first = raw.first, raw.count <= maxCodeBytes, first >= UInt8(ascii: "a"),
                first <= UInt8(ascii: "z"), raw.allSatisfy(isCodeByte)
            else { return "is not a code ([a-z][a-z0-9_]*, at most \(maxCodeBytes) bytes)" }
            return nil
        case .policyDigest, .requestHMAC, .responseHMAC:
            return isLowerHex(raw, count: 64) ? nil : "is not 64 lowercase hex digits"
        case .traceID:
            return isLowerHex(raw, count: 32) ? nil : "is not 32 lowercase hex digits"
        case .toolDigest:
            return isLowerHex(raw, count: 64) ? nil : "is not 64 lowercase hex digits"
        default:
            return nil
        }
    }

    /// Why an integer value is not allowed for `member`, or nil.
    static func integerProblem(_ member: Member, _ value: Int64) -> String? {
        switch member {
        case .attempts, .bytesDown, .bytesUp, .durationUs, .latencyUs, .tokensIn, .tokensOut, .requestIndex:
            return value >= 0 ? nil : "is negative"
        case .count, .tornBytes:
            return value >= 1 ? nil : "is not positive"
        case .isError:
            return value == 0 || value == 1 ? nil : "is not 0 or 1"
        case .uid:
            return value >= 0 && value <= Int64(UInt32.max) ? nil : "is not a UID (0 to 4294967295)"
        case .port:
            return value >= 0 && value <= 65_535 ? nil : "is not a port (0 to 65535)"
        case .status:
            return value >= 100 && value <= 999 ? nil : "is not an HTTP status (100 to 999)"
        default:
            return nil
        }
    }

    /// Why an announced key list does not parse, or nil; the keys otherwise.
    static func parseKeys(_ text: String) -> Result<[NoteVerifierKey], ReceiptLogError> {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        var keys: [NoteVerifierKey] = []
        for part in parts {
            do {
                keys.append(try NoteVerifierKey(text: String(part)))
            } catch {
                return .failure(error)
            }
        }
        return .success(keys)
    }

    private static func oneOf(_ raw: UnsafeRawBufferPointer, _ words: [StaticString]) -> Bool {
        for word in words where equals(raw, word) { return true }
        return false
    }

    /// Branch-free over the whole value, so that the compiler can vectorise it: three digests per record.
    private static func isLowerHex(_ raw: UnsafeRawBufferPointer, count: Int) -> Bool {
        guard raw.count == count, let base = raw.baseAddress else { return false }
        let p = base.assumingMemoryBound(to: UInt8.self)
        var bad: UInt8 = 0
        for i in 0..<count {
            let c = p[i]
            let digit: UInt8 = c &- UInt8(ascii: "0") < 10 ? 1 : 0
            let letter: UInt8 = c &- UInt8(ascii: "a") < 6 ? 1 : 0
            bad |= (digit | letter) ^ 1
        }
        return bad == 0
    }
}

extension RecordSchema {
    /// A rule a record breaks, with a sentence for the auditor.
    struct Problem: Error {
        let reason: VerificationFailure.Reason
        let message: String
    }

    /// The checks that do not depend on the record's position: member names, types and values, `v`, the required
    /// members, and where `keys` may appear. The caller has checked the canonical form and filled `fields`.
    static func check(_ fields: RecordFields) -> Problem? {
        if let violation = fields.violation {
            let name = String(decoding: violation.name, as: UTF8.self)
            return Problem(reason: violation.reason, message: "field '\(name)' \(violation.problem)")
        }
        let version = fields.version
        guard version == Receipt.formatVersion else {
            return Problem(
                reason: .invalidRecord,
                message: "field 'v' is \(version.map(String.init) ?? "missing"), expected 1"
            )
        }
        guard fields.index != nil, fields.origin != nil, let kind = fields.kind, fields.time != nil else {
            return Problem(reason: .invalidRecord, message: "a required field (index, origin, time, kind) is missing")
        }
        let announces = fields.reason.map { equals($0, keysChanged) } ?? false
        let isAdmin = equals(kind, "admin")
        if let keys = fields.keys {
            guard isAdmin && announces else {
                return Problem(
                    reason: .invalidValue,
                    message: "field 'keys' may only appear in an admin record with reason \(keysChanged)"
                )
            }
            if case .failure(let error) = parseKeys(CanonicalRecordReader.text(keys)) {
                return Problem(
                    reason: .invalidValue,
                    message: "field 'keys' is not a space-separated list of verifier keys: \(error.message)"
                )
            }
        } else if isAdmin && announces {
            return Problem(
                reason: .invalidRecord, message: "an admin record with reason \(keysChanged) must hold 'keys'")
        }
        return nil
    }

    /// Whether the record is the key announcement record 0 must be.
    static func isKeyAnnouncement(_ fields: RecordFields) -> Bool {
        guard let kind = fields.kind, let reason = fields.reason, fields.keys != nil else { return false }
        return equals(kind, "admin") && equals(reason, keysChanged)
    }

    /// Checks a whole leaf as the verifier does, except for the rules that depend on its position.
    static func check(leaf: UnsafeRawBufferPointer) -> Problem? {
        var fields = RecordFields()
        if let failure = CanonicalRecordValidator.validate(leaf, into: &fields) {
            return Problem(
                reason: .nonCanonicalRecord, message: "byte \(failure.offset) of the record: \(failure.reason)")
        }
        return check(fields)
    }
}
