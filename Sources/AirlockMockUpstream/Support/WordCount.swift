/// Deterministic "token" counting used for the mock's usage numbers: one token per whitespace-separated word.
///
/// Only ASCII whitespace (space, tab, LF, VT, FF, CR) separates words, so the count is cheap and does not depend on
/// Unicode tables.
enum WordCount {
    static func count(_ text: String) -> Int {
        var words = 0
        var inWord = false
        for byte in text.utf8 {
            let isSpace = byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
            if isSpace {
                inWord = false
            } else if !inWord {
                inWord = true
                words += 1
            }
        }
        return words
    }

    static func words(_ text: String) -> [String] {
        text.split(whereSeparator: {
            $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\u{0B}" || $0 == "\u{0C}"
        })
        .map(String.init)
    }
}
