import AirlockJSON
import AirlockPolicy
import NIOCore

/// A refusal or failure the router answers itself, rendered in the agent's API family's own error shape so
/// that unmodified SDKs raise their usual exception types.
public struct RouterError: Error, Sendable, Equatable {
    public var status: Int
    /// Stable reason code, also written to receipts (`body_too_large`, `rate_limited`, ...).
    public var reason: String
    public var message: String
    public var retryAfterSeconds: Int64?

    public init(status: Int, reason: String, message: String, retryAfterSeconds: Int64? = nil) {
        self.status = status
        self.reason = reason
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// The JSON body for `family`.
    func body(for family: APIFamily) -> String {
        switch family {
        case .openai:
            return "{\"error\":{\"message\":\(JSONText.quoted(message)),\"type\":\"\(openAIType)\",\"param\":null,"
                + "\"code\":\(JSONText.quoted(reason))}}"
        case .anthropic:
            return "{\"type\":\"error\",\"error\":{\"type\":\"\(anthropicType)\",\"message\":\(JSONText.quoted(message))}}"
        }
    }

    private var openAIType: String {
        switch status {
        case 400, 404, 413, 415, 431: return "invalid_request_error"
        case 401: return "authentication_error"
        case 403: return "permission_error"
        case 429: return reason == "budget_exceeded" ? "insufficient_quota" : "rate_limit_error"
        case 503: return "service_unavailable"
        default: return "api_error"
        }
    }

    private var anthropicType: String {
        switch status {
        case 400, 415, 431: return "invalid_request_error"
        case 401: return "authentication_error"
        case 403: return "permission_error"
        case 404: return "not_found_error"
        case 413: return "request_too_large"
        case 429: return "rate_limit_error"
        case 503, 529: return "overloaded_error"
        default: return "api_error"
        }
    }
}

extension RouterError {
    static func notFound(_ path: String) -> RouterError {
        RouterError(status: 404, reason: "unknown_route", message: "The router does not serve \(path).")
    }
    static let receiptLogUnavailable = RouterError(
        status: 503,
        reason: "receipt_log_unavailable",
        message: "The router cannot record this request, so it will not serve it.",
        retryAfterSeconds: 5
    )
    static let methodNotAllowed = RouterError(
        status: 405,
        reason: "method_not_allowed",
        message: "The router serves GET and POST only (and never CONNECT: the egress proxy is a separate listener)."
    )
    static func tooManyConnections(_ cap: Int) -> RouterError {
        RouterError(
            status: 429,
            reason: "too_many_connections",
            message: "This peer already holds \(cap) open connections to the router, its limit; close idle ones or reuse them.",
            retryAfterSeconds: 1
        )
    }
    static let forbiddenPeer = RouterError(
        status: 403,
        reason: "unknown_sandbox",
        message: "This connection does not belong to a configured sandbox."
    )
    static func badRequest(_ reason: String, _ message: String) -> RouterError {
        RouterError(status: 400, reason: reason, message: message)
    }
}
