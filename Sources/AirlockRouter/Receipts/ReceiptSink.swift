import AirlockReceipts

/// Where the router's receipts go. `append` returns once the record is as durable as the log's policy
/// requires; if it throws, the router fails the request closed (503) and makes no upstream call.
public protocol ReceiptSink: Sendable {
    /// Appends the record (the sink fills in the policy digest) and returns its index in the log.
    func append(_ receipt: Receipt) async throws -> UInt64
    /// An incremental HMAC over a body under the log's key; nil when receipts are off.
    func bodyHasher() -> BodyHasher?
}

/// No receipt log: appends succeed without recording (used only when receipts are explicitly disabled).
public struct DisabledReceipts: ReceiptSink {
    public init() {}
    public func append(_ receipt: Receipt) async throws -> UInt64 { 0 }
    public func bodyHasher() -> BodyHasher? { nil }
}

extension Receipt {
    /// A record of the router's, with the fields every kind carries.
    static func router(
        _ kind: ReceiptKind,
        peer: PeerIdentity?,
        route: String,
        decision: String,
        reason: String,
        traceID: String
    ) -> Receipt {
        Receipt(
            kind: kind,
            time: WallClock.nanoseconds(),
            sandbox: peer?.sandbox?.name,
            tenant: peer?.sandbox?.tenant,
            uid: peer?.uid.map(Int64.init),
            route: route.isEmpty ? nil : route,
            decision: decision,
            reason: reason,
            traceID: traceID.isEmpty ? nil : traceID
        )
    }
}
