extension JSONScanner {
    /// The names seen so far in one object, for refusing a second member of the same name. Small objects compare in
    /// place; a large one (an attacker's 100,000 names) is hashed, so the check stays linear in the document.
    struct MemberNames {
        private var names: [Span] = []
        private var set: Set<[UInt8]>?

        /// Adds `key`; true when the object already has a member of that name.
        @inline(__always)
        mutating func insert(_ key: Span, in scanner: JSONScanner) -> Bool {
            if let inserted = set?.insert(scanner.nameBytes(key)).inserted {
                // Mutated in place through the optional: no copy of the set per name.
                return !inserted
            }
            let seen = names.contains { scanner.sameName($0, key) }
            names.append(key)
            if names.count > 16 { set = Set(names.map(scanner.nameBytes)) }
            return seen
        }
    }

    /// A key's name as bytes, unescaped when it has an escape.
    func nameBytes(_ key: Span) -> [UInt8] {
        let raw = bytes[(key.start + 1)..<(key.end - 1)]
        if !raw.contains(UInt8(ascii: "\\")) { return Array(raw) }
        return Array((string(key) ?? "").utf8)
    }

    /// Whether two key spans name the same member (byte comparison, unescaping only when either has an escape).
    func sameName(_ a: Span, _ b: Span) -> Bool {
        let x = bytes[(a.start + 1)..<(a.end - 1)]
        let y = bytes[(b.start + 1)..<(b.end - 1)]
        if !x.contains(UInt8(ascii: "\\")) && !y.contains(UInt8(ascii: "\\")) { return x.elementsEqual(y) }
        return string(a) == string(b)
    }
}
