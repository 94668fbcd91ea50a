/// One provider request as the mock saw it.
public struct RecordedRequest: Sendable, Hashable {
    /// Sequence number, starting at 1 for the first request since start.
    public var id: Int
    /// HTTP method, e.g. `POST`.
    public var method: String
    /// Request URI: path and query.
    public var path: String
    /// Every header, names lowercased, repeated headers joined with `", "`.
    public var headers: [String: String]
    /// The body decoded as UTF-8 (invalid sequences replaced).
    public var body: String
    /// Arrival time, seconds since 1970.
    public var time: Double
    /// The status the mock chose to answer with (`0` while hanging).
    public var status: Int
    /// True when the client went away before the mock finished its answer.
    public var cancelled: Bool

    /// The value of a header, looked up case-insensitively.
    public func header(_ name: String) -> String? {
        self.headers[name.lowercased()]
    }
}
