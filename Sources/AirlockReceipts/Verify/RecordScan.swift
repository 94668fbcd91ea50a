/// A root the tree must have at some size, from a checkpoint in the log or the trusted checkpoint.
struct ExpectedRoot {
    let root: MerkleHash
    let source: String
    let trusted: Bool
}

/// The per-record part of verification, kept free of allocations so that it checks over a million records a second.
struct RecordScan {
    private(set) var range = CompactRange()
    private(set) var origin: String?
    private var originBytes: [UInt8]?
    private var kinds: [([UInt8], UInt64)] = []

    init(origin: String?) {
        self.origin = origin
        if let origin { originBytes = Self.escaped(origin) }
    }

    private static func escaped(_ string: String) -> [UInt8] {
        var out: [UInt8] = []
        CanonicalJSON.appendString(string, to: &out)
        return Array(out.dropFirst().dropLast())
    }

    func kindCounts() -> [String: UInt64] {
        var result: [String: UInt64] = [:]
        for (raw, count) in kinds {
            result[raw.withUnsafeBytes { CanonicalJSONParser.unescape($0) }, default: 0] += count
        }
        return result
    }

    /// Compares the current root with every checkpoint of the current size.
    func check(size: UInt64, against expected: [UInt64: [ExpectedRoot]], directory: String) -> VerificationFailure? {
        guard let list = expected[size] else { return nil }
        let root = range.root
        for item in list where item.root != root {
            let what = item.trusted ? "the trusted checkpoint" : "checkpoint \(item.source)"
            return VerificationFailure(
                reason: .rootMismatch,
                index: nil,
                checkpointSize: size,
                path: item.trusted ? "trusted checkpoint" : directory + "/" + item.source,
                message: "the tree of the first \(size) records has root \(root.base64) but \(what) says \(item.root.base64): records were altered or the log forked"
            )
        }
        return nil
    }

    private func failure(
        _ reason: VerificationFailure.Reason,
        _ message: String,
        path: String
    ) -> VerificationFailure {
        VerificationFailure(reason: reason, index: range.size, checkpointSize: nil, path: path, message: message)
    }

    mutating func scanSegment(
        _ buffer: UnsafeRawBufferPointer,
        path: String,
        isLast: Bool,
        expected: [UInt64: [ExpectedRoot]],
        directory: String,
        warnings: inout [String]
    ) -> VerificationFailure? {
        var offset = 0
        while true {
            switch Frame.parse(buffer, at: offset) {
            case .end:
                return nil
            case .invalid(let at, let reason):
                let incomplete = reason.hasPrefix("incomplete")
                if isLast && incomplete {
                    warnings.append(
                        "the last segment ends in an incomplete frame at byte \(at) (\(reason)): a write that was never acknowledged; the log cuts it when next opened"
                    )
                    return nil
                }
                return failure(.damagedFrame, "frame at byte \(at): \(reason)", path: path)
            case .frame(let frame):
                let leaf = UnsafeRawBufferPointer(rebasing: buffer[frame.leaf])
                let hash = RFC6962.leafHash(pointer: leaf)
                guard hash == frame.storedHash else {
                    return failure(
                        .leafHashMismatch,
                        "the record bytes hash to \(hash.hex) but the stored leaf hash is \(frame.storedHash.hex): the record or its stored hash was altered",
                        path: path
                    )
                }
                if let problem = checkRecord(leaf, path: path) { return problem }
                range.append(hash)
                offset = frame.end
                if let problem = check(size: range.size, against: expected, directory: directory) { return problem }
            }
        }
    }

    private mutating func checkRecord(_ leaf: UnsafeRawBufferPointer, path: String) -> VerificationFailure? {
        var version: Int64?
        var index: Int64?
        var time: Int64?
        var recordOrigin: UnsafeRawBufferPointer?
        var kind: UnsafeRawBufferPointer?
        var typeError: String?
        do throws(CanonicalJSONParser.Failure) {
            try CanonicalJSONParser.parse(leaf) { (name, value) throws(CanonicalJSONParser.Failure) in
                switch (Self.name(name), value) {
                case (.v, .integer(let n)): version = n
                case (.index, .integer(let n)): index = n
                case (.time, .integer(let n)): time = n
                case (.origin, .string(let raw)): recordOrigin = raw
                case (.kind, .string(let raw)): kind = raw
                case (.other, _): break
                default: typeError = "field '\(String(decoding: name, as: UTF8.self))' has the wrong type"
                }
            }
        } catch {
            return failure(.nonCanonicalRecord, "byte \(error.offset) of the record: \(error.reason)", path: path)
        }
        if let typeError { return failure(.invalidRecord, typeError, path: path) }
        guard version == Receipt.formatVersion else {
            return failure(.invalidRecord, "field 'v' is \(version.map(String.init) ?? "missing"), expected 1", path: path)
        }
        guard let index, let recordOrigin, let kind, time != nil else {
            return failure(.invalidRecord, "a required field (index, origin, time, kind) is missing", path: path)
        }
        guard index >= 0, UInt64(index) == range.size else {
            return failure(
                .wrongIndex,
                "the record at position \(range.size) says index \(index): records were deleted, inserted or reordered",
                path: path
            )
        }
        if let originBytes {
            guard recordOrigin.elementsEqual(originBytes) else {
                return failure(
                    .wrongOrigin,
                    "the record's origin '\(CanonicalJSONParser.unescape(recordOrigin))' is not '\(origin ?? "")'",
                    path: path
                )
            }
        } else {
            origin = CanonicalJSONParser.unescape(recordOrigin)
            originBytes = Array(recordOrigin)
        }
        if let slot = kinds.firstIndex(where: { $0.0.elementsEqual(kind) }) {
            kinds[slot].1 += 1
        } else {
            kinds.append((Array(kind), 1))
        }
        return nil
    }

    private enum Name { case v, index, time, origin, kind, other }

    private static func name(_ raw: UnsafeRawBufferPointer) -> Name {
        switch raw.count {
        case 1 where raw[0] == UInt8(ascii: "v"): .v
        case 4 where raw.elementsEqual("time".utf8): .time
        case 4 where raw.elementsEqual("kind".utf8): .kind
        case 5 where raw.elementsEqual("index".utf8): .index
        case 6 where raw.elementsEqual("origin".utf8): .origin
        default: .other
        }
    }
}
