/// Lookups on a document that ``JSONScanner/validateDocument()`` accepted; on anything else they are undefined.
extension JSONScanner {
    /// The members of an object, in order, as (key span, value span). Keys keep their quotes.
    public func members(of object: Span) -> [(key: Span, value: Span)] {
        precondition(object.kind == .object)
        var result: [(Span, Span)] = []
        var i = skipSpace(object.start + 1)
        while i < object.end - 1 {
            let keyEnd = endOfString(i)
            let key = Span(start: i, end: keyEnd, kind: .string)
            i = skipSpace(keyEnd) + 1
            i = skipSpace(i)
            let value = (try? self.value(at: &i, depth: 0)) ?? Span(start: i, end: i, kind: .null)
            result.append((key, value))
            i = skipSpace(i)
            if i < bytes.count, bytes[i] == UInt8(ascii: ",") { i = skipSpace(i + 1) }
        }
        return result
    }

    /// The elements of an array, in order.
    public func elements(of array: Span) -> [Span] {
        precondition(array.kind == .array)
        var result: [Span] = []
        var i = skipSpace(array.start + 1)
        while i < array.end - 1 {
            guard let element = try? value(at: &i, depth: 0) else { break }
            result.append(element)
            i = skipSpace(i)
            if i < bytes.count, bytes[i] == UInt8(ascii: ",") { i = skipSpace(i + 1) }
        }
        return result
    }

    /// The value of `key` in `object`, or nil.
    public func value(of object: Span, key: String) -> Span? {
        guard object.kind == .object else { return nil }
        for (k, v) in members(of: object) where keyEquals(k, key) {
            return v
        }
        return nil
    }

    /// Follows a path of object keys from `root`.
    public func value(at path: [String], in root: Span) -> Span? {
        var current = root
        for key in path {
            guard let next = value(of: current, key: key) else { return nil }
            current = next
        }
        return current
    }

    /// Whether a key span (with quotes) equals `key`, unescaping if needed.
    public func keyEquals(_ span: Span, _ key: String) -> Bool {
        let raw = bytes[(span.start + 1)..<(span.end - 1)]
        if !raw.contains(UInt8(ascii: "\\")) {
            return raw.elementsEqual(key.utf8)
        }
        return string(span) == key
    }

    /// The decoded text of a string span.
    public func string(_ span: Span) -> String? {
        guard span.kind == .string else { return nil }
        let inner = bytes[(span.start + 1)..<(span.end - 1)]
        if !inner.contains(UInt8(ascii: "\\")) {
            return String(decoding: inner, as: UTF8.self)
        }
        return JSONStringContents.decode(inner)
    }

    /// An integer value (no fraction or exponent) that fits in Int, or nil.
    public func integer(_ span: Span) -> Int? {
        guard span.kind == .number else { return nil }
        var i = span.start
        var negative = false
        if bytes[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        var value = 0
        while i < span.end {
            let b = bytes[i]
            guard b >= 0x30 && b <= 0x39 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int(b - 0x30))
            if o1 || o2 { return nil }
            value = a
            i += 1
        }
        return negative ? -value : value
    }

    public func bool(_ span: Span) -> Bool? {
        guard span.kind == .bool else { return nil }
        return bytes[span.start] == UInt8(ascii: "t")
    }

    /// A number's text as written.
    public func numberText(_ span: Span) -> String? {
        guard span.kind == .number else { return nil }
        return String(decoding: bytes[span.start..<span.end], as: UTF8.self)
    }

    /// End (exclusive) of a string that is known to be valid.
    private func endOfString(_ start: Int) -> Int {
        var i = start + 1
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\") {
                i += 2
            } else if bytes[i] == UInt8(ascii: "\"") {
                return i + 1
            } else {
                i += 1
            }
        }
        return i
    }
}
