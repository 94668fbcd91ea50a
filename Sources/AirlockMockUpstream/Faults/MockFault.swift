/// One fault: how the mock misbehaves for a matching request. All knobs are optional and combine
/// (for example a delay before headers followed by a 503).
public struct MockFault: Sendable, Hashable {
    /// Prefix of the request URI (path and query) this fault applies to; `nil` matches every provider request.
    public var path: String?
    /// How many matching requests consume this item before it leaves the plan (ignored for the default fault).
    public var count: Int
    /// Answer with this status and the provider-shaped error body instead of a normal response.
    public var status: Int?
    /// `Retry-After` header value sent with ``status``.
    public var retryAfter: String?
    /// Wait this long before sending the response head.
    public var delayBeforeHeadersMs: Int?
    /// Pause between stream events (overrides the configuration's chunk delay).
    public var chunkDelayMs: Int?
    /// Send the head and this many body bytes, then reset the TCP connection (SO_LINGER 0, RST).
    public var resetAfterBytes: Int?
    /// Accept the request and never answer, until the client goes away.
    public var hang: Bool

    /// A fault; with no arguments, "no fault".
    public init(
        path: String? = nil,
        count: Int = 1,
        status: Int? = nil,
        retryAfter: String? = nil,
        delayBeforeHeadersMs: Int? = nil,
        chunkDelayMs: Int? = nil,
        resetAfterBytes: Int? = nil,
        hang: Bool = false
    ) {
        self.path = path
        self.count = count
        self.status = status
        self.retryAfter = retryAfter
        self.delayBeforeHeadersMs = delayBeforeHeadersMs
        self.chunkDelayMs = chunkDelayMs
        self.resetAfterBytes = resetAfterBytes
        self.hang = hang
    }

    /// True when the fault changes nothing.
    public var isEmpty: Bool {
        self.status == nil && self.delayBeforeHeadersMs == nil && self.chunkDelayMs == nil
            && self.resetAfterBytes == nil && !self.hang
    }

    func matches(uri: String) -> Bool {
        guard let path else { return true }
        return uri.hasPrefix(path)
    }
}
