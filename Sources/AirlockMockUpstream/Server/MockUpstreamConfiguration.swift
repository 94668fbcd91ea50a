import NIOCore

/// How a ``MockUpstreamServer`` listens and answers.
public struct MockUpstreamConfiguration: Sendable {
    /// Listen address. Must be loopback (`127.0.0.0/8`, `::1` or `localhost`); anything else is refused at start.
    public var host: String
    /// Listen port; `0` picks an ephemeral port (read it back from ``MockUpstreamServer/port``).
    public var port: Int
    /// When set, every provider request must carry this key in its provider's header, or it gets a 401:
    /// `Authorization: Bearer KEY` (OpenAI and compatible), `api-key: KEY` (Azure OpenAI), `x-api-key: KEY`
    /// (Anthropic).
    public var requiredKey: String?
    /// The completion text; streamed one word per event.
    public var reply: String
    /// When set, the reply is cycled or cut to exactly this many words (long streams for benchmarks).
    public var chunkCount: Int?
    /// Pause between stream events when no fault says otherwise.
    public var chunkDelay: TimeAmount
    /// Applied to every request that no item of the fault plan matches. `MockFault()` means "no fault".
    public var defaultFault: MockFault
    /// Fault items loaded into the FIFO plan at start.
    public var initialFaults: [MockFault]
    /// How many requests ``MockUpstreamServer/recordedRequests()`` keeps (oldest dropped first).
    public var recordLimit: Int
    /// Request bodies larger than this get a 413.
    public var maxBodyBytes: Int
    /// Model ids listed by `GET /v1/models`.
    public var models: [String]
    /// Length of embedding vectors when the request does not ask for `dimensions`.
    public var embeddingDimensions: Int

    /// A configuration with defaults suitable for tests: ephemeral port on 127.0.0.1, no key, no faults.
    public init(
        host: String = "127.0.0.1",
        port: Int = 0,
        requiredKey: String? = nil,
        reply: String = "Hello from the Airlock mock upstream.",
        chunkCount: Int? = nil,
        chunkDelay: TimeAmount = .zero,
        defaultFault: MockFault = MockFault(),
        initialFaults: [MockFault] = [],
        recordLimit: Int = 1000,
        maxBodyBytes: Int = 8 * 1024 * 1024,
        models: [String] = ["gpt-4o-mini", "text-embedding-3-small", "claude-3-5-haiku-latest"],
        embeddingDimensions: Int = 8
    ) {
        self.host = host
        self.port = port
        self.requiredKey = requiredKey
        self.reply = reply
        self.chunkCount = chunkCount
        self.chunkDelay = chunkDelay
        self.defaultFault = defaultFault
        self.initialFaults = initialFaults
        self.recordLimit = recordLimit
        self.maxBodyBytes = maxBodyBytes
        self.models = models
        self.embeddingDimensions = embeddingDimensions
    }
}
