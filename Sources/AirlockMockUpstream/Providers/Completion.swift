/// Everything a provider body builder needs for one answer, computed once per request.
struct Completion: Sendable {
    var requestID: Int
    var created: Int
    var model: String
    var reply: ReplyText
    var promptTokens: Int
    /// Words emitted (== completion tokens).
    var completionTokens: Int
    /// True when the request's output cap cut the reply short.
    var truncated: Bool
    var includeUsage: Bool

    init(requestID: Int, created: Int, model: String, reply: ReplyText, request: ProviderRequest) {
        self.requestID = requestID
        self.created = created
        self.model = model
        self.reply = reply
        self.promptTokens = request.promptWords
        self.completionTokens = reply.emittedCount(limit: request.maxTokens)
        self.truncated = self.completionTokens < reply.words.count
        self.includeUsage = request.includeUsage
    }

    var text: String { self.reply.text(count: self.completionTokens) }
    var totalTokens: Int { self.promptTokens + self.completionTokens }
    var quotedModel: String { JSONText.quoted(self.model) }
}
