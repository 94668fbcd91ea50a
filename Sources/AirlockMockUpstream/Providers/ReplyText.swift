/// The configured reply, split into the words the mock emits (one stream delta per word).
struct ReplyText: Sendable {
    let words: [String]
    private let fullText: String

    init(_ text: String, wordCount: Int?) {
        var words = WordCount.words(text)
        if words.isEmpty {
            words = ["ok"]
        }
        if let wordCount, wordCount >= 0 {
            words = (0..<wordCount).map { words[$0 % words.count] }
        }
        self.words = words
        self.fullText = words.joined(separator: " ")
    }

    /// How many words a request gets: the whole reply, or `limit` words when the request caps its output.
    func emittedCount(limit: Int?) -> Int {
        guard let limit else { return self.words.count }
        return min(max(0, limit), self.words.count)
    }

    /// The first `count` words joined by single spaces.
    func text(count: Int) -> String {
        count == self.words.count ? self.fullText : self.words[..<count].joined(separator: " ")
    }

    /// The stream delta for word `index`: the word, with a leading space after the first, so deltas concatenate
    /// to ``text(count:)``.
    func delta(_ index: Int) -> String {
        index == 0 ? self.words[0] : " " + self.words[index]
    }
}
