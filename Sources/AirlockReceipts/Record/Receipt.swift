/// One receipt as the router supplies it. The log adds `v`, `origin` and `index` when it appends.
///
/// A receipt holds metadata only. Bodies appear solely as ``BodyDigest`` values (HMAC-SHA256 under the log's
/// body key), every string is at most ``maxStringBytes`` bytes, and there is no field for free text, so prompt or
/// completion text has no place to go.
public struct Receipt: Sendable, Hashable {
    /// The longest string value, in UTF-8 bytes, that a receipt accepts.
    public static let maxStringBytes = 512

    /// Time of the event, nanoseconds since the Unix epoch. When nil the log uses the current wall-clock time.
    public var time: Int64?
    /// What this receipt records.
    public var kind: ReceiptKind
    /// The sandbox identity name.
    public var sandbox: String?
    /// The tenant the sandbox belongs to.
    public var tenant: String?
    /// The peer UID, when known.
    public var uid: Int64?
    /// The route name from the router configuration.
    public var route: String?
    /// The provider (openai, anthropic, azure-openai, ...).
    public var provider: String?
    /// The upstream host.
    public var upstream: String?
    /// The model requested.
    public var model: String?
    /// `allow`, `deny`, `ok` or `error` (docs/receipts.md section 3.4); the log refuses any other.
    public var decision: String?
    /// A reason code, such as `rate_limited` or `model_not_allowed`: `[a-z][a-z0-9_]*`, at most 64 bytes.
    public var reason: String?
    /// The HTTP status answered to the agent.
    public var status: Int64?
    /// Upstream attempts made.
    public var attempts: Int64?
    /// In a record that stands for several refusals of one peer (a flood past its rate limit): how many (≥ 1).
    public var count: Int64?
    /// Prompt tokens, as reported by the upstream.
    public var tokensIn: Int64?
    /// Completion tokens, as reported by the upstream.
    public var tokensOut: Int64?
    /// Latency in microseconds.
    public var latencyMicroseconds: Int64?
    /// W3C trace id.
    public var traceID: String?
    /// Hex SHA-256 of the loaded configuration.
    public var policyDigest: String?
    /// HMAC of the request body.
    public var requestHMAC: BodyDigest?
    /// HMAC of the response body.
    public var responseHMAC: BodyDigest?
    /// For a completion: the index of its request record.
    public var requestIndex: UInt64?
    /// For an egress record: the connection.
    public var egress: Egress?
    /// For an MCP record: the server, the JSON-RPC method and tool.
    public var mcp: MCP?
    /// Members the log itself writes (`keys`, `torn_bytes`). Format version 1 defines no others, so the log refuses
    /// a receipt with any other name (docs/receipts.md section 3.2).
    public var extensions: [String: ReceiptValue]

    /// The connection an egress receipt describes.
    public struct Egress: Sendable, Hashable {
        public var host: String?
        public var port: Int64?
        public var address: String?
        public var bytesUp: Int64?
        public var bytesDown: Int64?
        public var durationMicroseconds: Int64?
        /// For one HTTP request on an inspected host: its method (written as the `method` member, which an `mcp`
        /// record uses for the JSON-RPC method; a record is one kind or the other).
        public var method: String?

        public init(
            host: String? = nil,
            port: Int64? = nil,
            address: String? = nil,
            bytesUp: Int64? = nil,
            bytesDown: Int64? = nil,
            durationMicroseconds: Int64? = nil,
            method: String? = nil
        ) {
            self.method = method
            self.host = host
            self.port = port
            self.address = address
            self.bytesUp = bytesUp
            self.bytesDown = bytesDown
            self.durationMicroseconds = durationMicroseconds
        }
    }

    /// The MCP request an `mcp` receipt describes. Strings are names and digests, never arguments or results.
    public struct MCP: Sendable, Hashable {
        /// The configured server name.
        public var server: String?
        /// The JSON-RPC method (`tools/call`, `tools/list`, ...), or `response` / `notification` shapes, at most 64 bytes.
        public var method: String?
        /// For `tools/call`: the tool's name.
        public var tool: String?
        /// For `tools/call`: SHA-256 (hex) of the tool's definition as last listed, when known.
        public var toolDigest: String?
        /// For `tools/call` answered with a result: 1 when the result says `isError`, else 0.
        public var isError: Int64?

        public init(server: String? = nil, method: String? = nil, tool: String? = nil, toolDigest: String? = nil, isError: Int64? = nil) {
            self.server = server
            self.method = method
            self.tool = tool
            self.toolDigest = toolDigest
            self.isError = isError
        }
    }

    /// Creates a receipt; every field but `kind` is optional and omitted from the record when nil.
    public init(
        kind: ReceiptKind,
        time: Int64? = nil,
        sandbox: String? = nil,
        tenant: String? = nil,
        uid: Int64? = nil,
        route: String? = nil,
        provider: String? = nil,
        upstream: String? = nil,
        model: String? = nil,
        decision: String? = nil,
        reason: String? = nil,
        status: Int64? = nil,
        attempts: Int64? = nil,
        count: Int64? = nil,
        tokensIn: Int64? = nil,
        tokensOut: Int64? = nil,
        latencyMicroseconds: Int64? = nil,
        traceID: String? = nil,
        policyDigest: String? = nil,
        requestHMAC: BodyDigest? = nil,
        responseHMAC: BodyDigest? = nil,
        requestIndex: UInt64? = nil,
        egress: Egress? = nil,
        mcp: MCP? = nil,
        extensions: [String: ReceiptValue] = [:]
    ) {
        self.kind = kind
        self.time = time
        self.sandbox = sandbox
        self.tenant = tenant
        self.uid = uid
        self.route = route
        self.provider = provider
        self.upstream = upstream
        self.model = model
        self.decision = decision
        self.reason = reason
        self.status = status
        self.attempts = attempts
        self.count = count
        self.tokensIn = tokensIn
        self.tokensOut = tokensOut
        self.latencyMicroseconds = latencyMicroseconds
        self.traceID = traceID
        self.policyDigest = policyDigest
        self.requestHMAC = requestHMAC
        self.responseHMAC = responseHMAC
        self.requestIndex = requestIndex
        self.egress = egress
        self.mcp = mcp
        self.extensions = extensions
    }
}
