/// What the router tells the receipt log about a request. One event per receipt record; the log assigns
/// index, origin and hashes. Bodies are never part of an event, only their HMAC digests.
public struct ReceiptEvent: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case request, completion, egress, admin
    }

    public var kind: Kind
    /// Wall-clock time, nanoseconds since the Unix epoch.
    public var timeNanoseconds: Int64
    public var sandbox: String
    public var tenant: String
    public var uid: UInt32?
    public var route: String
    public var provider: String
    public var upstream: String
    public var model: String
    /// `allow` or `deny` on request records; `ok` or `error` on completions.
    public var decision: String
    public var reason: String
    public var status: Int?
    public var attempts: Int?
    public var tokensIn: Int?
    public var tokensOut: Int?
    public var latencyMicroseconds: Int64?
    public var traceID: String
    /// For a completion: the index of its request record.
    public var requestIndex: UInt64?
    public var requestBodyHMAC: String?
    public var responseBodyHMAC: String?

    public init(
        kind: Kind,
        timeNanoseconds: Int64,
        sandbox: String,
        tenant: String,
        uid: UInt32? = nil,
        route: String,
        provider: String = "",
        upstream: String = "",
        model: String = "",
        decision: String,
        reason: String,
        status: Int? = nil,
        attempts: Int? = nil,
        tokensIn: Int? = nil,
        tokensOut: Int? = nil,
        latencyMicroseconds: Int64? = nil,
        traceID: String,
        requestIndex: UInt64? = nil,
        requestBodyHMAC: String? = nil,
        responseBodyHMAC: String? = nil
    ) {
        self.kind = kind
        self.timeNanoseconds = timeNanoseconds
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
        self.tokensIn = tokensIn
        self.tokensOut = tokensOut
        self.latencyMicroseconds = latencyMicroseconds
        self.traceID = traceID
        self.requestIndex = requestIndex
        self.requestBodyHMAC = requestBodyHMAC
        self.responseBodyHMAC = responseBodyHMAC
    }
}

/// Where the router's receipts go. `append` returns once the event is as durable as the log's policy
/// requires; if it throws, the router fails the request closed (503) and makes no upstream call.
public protocol ReceiptSink: Sendable {
    /// Appends the event and returns its index in the log.
    func append(_ event: ReceiptEvent) async throws -> UInt64
    /// An incremental HMAC over a body under the log's key, as lowercase hex; nil when receipts are off.
    func bodyDigester() -> (any BodyDigester)?
}

/// Accumulates a body's HMAC as its bytes pass through.
public protocol BodyDigester: Sendable {
    mutating func update(_ bytes: UnsafeRawBufferPointer)
    func finalize() -> String
}

/// No receipt log: appends succeed without recording (used only when receipts are explicitly disabled).
public struct DisabledReceipts: ReceiptSink {
    public init() {}
    public func append(_ event: ReceiptEvent) async throws -> UInt64 { 0 }
    public func bodyDigester() -> (any BodyDigester)? { nil }
}
