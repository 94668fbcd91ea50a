/// Counters since start (or since the last ``MockUpstreamServer/clearRequests()``).
public struct MockStats: Sendable, Hashable {
    /// Provider requests seen (control endpoints excluded).
    public var total: Int
    /// Requests whose client went away before the answer finished.
    public var cancelled: Int
    /// Requests per path (query excluded).
    public var paths: [String: Int]
}
