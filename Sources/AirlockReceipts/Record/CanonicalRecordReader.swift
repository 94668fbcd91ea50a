import AirlockJSON

/// Reads a stored record: its canonical form is checked by ``CanonicalRecordValidator`` (the rules `verify`
/// enforces), its members are read by the project's one JSON reader, ``JSONReader``.
enum CanonicalRecordReader {
    /// The record's members in order, or where and why it is not a canonical record.
    static func parse(_ bytes: [UInt8]) throws(CanonicalRecordValidator.Failure) -> [(String, ReceiptValue)] {
        var fields = RecordFields()
        if let failure = bytes.withUnsafeBytes({ CanonicalRecordValidator.validate($0, into: &fields) }) {
            throw failure
        }
        // Canonical form is a subset of strict JSON (FastPathTests holds the two to that), so this cannot fail.
        let root: JSONValue
        do {
            root = try JSONReader.parse(bytes, allowingByteOrderMark: false)
        } catch {
            throw CanonicalRecordValidator.Failure(offset: error.offset, reason: error.message)
        }
        guard case .object(let members) = root.kind else {
            throw CanonicalRecordValidator.Failure(offset: 0, reason: "expected '{'")
        }
        var values: [(String, ReceiptValue)] = []
        values.reserveCapacity(members.count)
        for member in members {
            switch member.value.kind {
            case .string(let text): values.append((member.key, .string(text)))
            case .bool(let value): values.append((member.key, .bool(value)))
            case .number(let text):
                guard let value = Int64(text) else {
                    throw CanonicalRecordValidator.Failure(offset: member.value.offset, reason: "integer out of range")
                }
                values.append((member.key, .integer(value)))
            case .null, .array, .object:
                throw CanonicalRecordValidator.Failure(
                    offset: member.value.offset,
                    reason: "expected a string, integer or boolean (objects, arrays, null and floats are not allowed)")
            }
        }
        return values
    }

    /// The text of a string's raw (still escaped) contents in a record the validator accepted.
    static func text(_ raw: UnsafeRawBufferPointer) -> String {
        JSONStringContents.decode(raw) ?? String(decoding: raw, as: UTF8.self)
    }
}
