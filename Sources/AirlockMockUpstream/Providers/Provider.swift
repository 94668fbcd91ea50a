import NIOHTTP1

/// Which provider's conventions a request follows: where its key is, and how its errors look.
enum Provider: Sendable {
    case openAI, azure, anthropic

    /// True when `headers` carry `key` the way this provider sends it.
    func isAuthorized(_ headers: HTTPHeaders, key: String) -> Bool {
        switch self {
        case .openAI:
            return headers.first(name: "authorization") == "Bearer " + key
        case .azure:
            return headers.first(name: "api-key") == key
        case .anthropic:
            // The anthropic Python SDK (2.x) sends `api_key` as `Authorization: Bearer`; older SDKs and the API
            // reference use `x-api-key`. Both are accepted, as the real API does.
            return headers.first(name: "x-api-key") == key || headers.first(name: "authorization") == "Bearer " + key
        }
    }

    /// A JSON error body in this provider's own shape.
    func errorBody(status: Int, message: String, param: String? = nil) -> String {
        switch self {
        case .openAI, .azure:
            let (type, code) = Self.openAIErrorType(status)
            return JSONText.object([
                (
                    "error",
                    JSONText.object([
                        ("message", JSONText.quoted(message)),
                        ("type", JSONText.quoted(type)),
                        ("param", JSONText.quotedOrNull(param)),
                        ("code", JSONText.quotedOrNull(code)),
                    ])
                )
            ])
        case .anthropic:
            return JSONText.object([
                ("type", "\"error\""),
                (
                    "error",
                    JSONText.object([
                        ("type", JSONText.quoted(Self.anthropicErrorType(status))),
                        ("message", JSONText.quoted(message)),
                    ])
                ),
            ])
        }
    }

    private static func openAIErrorType(_ status: Int) -> (type: String, code: String?) {
        switch status {
        case 401: return ("invalid_request_error", "invalid_api_key")
        case 403: return ("permission_error", nil)
        case 404: return ("invalid_request_error", "unknown_url")
        case 429: return ("requests", "rate_limit_exceeded")
        case 400..<500: return ("invalid_request_error", nil)
        default: return ("server_error", nil)
        }
    }

    private static func anthropicErrorType(_ status: Int) -> String {
        switch status {
        case 401: return "authentication_error"
        case 403: return "permission_error"
        case 404: return "not_found_error"
        case 413: return "request_too_large"
        case 429: return "rate_limit_error"
        case 529: return "overloaded_error"
        case 400..<500: return "invalid_request_error"
        default: return "api_error"
        }
    }
}
