/// Removes from an upstream's error body anything that resembles the key the router injected. Providers echo
/// a key they refuse, whole or masked (`sk-proj-abc****...wxyz`); a masked fragment still narrows the key, and
/// the agent must learn nothing of it. Each match is overwritten in place by `*`, so lengths do not change.
///
/// A match is: the key itself; or a run of key characters (letters, digits, `-`, `_`, `*`) that contains a `*`
/// and begins with the key's first four characters or ends with its last four; or a run of at least eight key
/// characters found inside the key.
struct KeyScrubber: Sendable {
    let secret: [UInt8]

    init?(secret: String) {
        let bytes = Array(secret.utf8)
        guard bytes.count >= 8 else { return nil }
        self.secret = bytes
    }

    /// Error bodies longer than this are not examined but replaced (see ResponseObserver).
    static let maxBody = 64 << 10

    func scrub(_ body: inout [UInt8]) {
        var i = 0
        while i < body.count {
            guard Self.isKeyByte(body[i]) else {
                i += 1
                continue
            }
            var end = i
            while end < body.count && Self.isKeyByte(body[end]) { end += 1 }
            if resembles(body[i..<end]) {
                for j in i..<end { body[j] = UInt8(ascii: "*") }
            } else if let at = Self.find(secret, in: body[i..<end]) {
                // The key inside a longer run (for example glued to other text).
                for j in at..<(at + secret.count) { body[j] = UInt8(ascii: "*") }
            }
            i = end
        }
    }

    private func resembles(_ run: ArraySlice<UInt8>) -> Bool {
        if run.elementsEqual(secret) { return true }
        if run.contains(UInt8(ascii: "*")) && run.count >= 8 {
            return run.starts(with: secret.prefix(4)) || run.reversed().starts(with: secret.suffix(4).reversed())
        }
        return run.count >= 8 && Self.find(Array(run), in: secret[...]) != nil
    }

    static func isKeyByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F
            || b == 0x2A
    }

    /// The index in `haystack` where `needle` starts, if it does.
    private static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        var i = haystack.startIndex
        while i + needle.count <= haystack.endIndex {
            if haystack[i] == needle[0] && haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
