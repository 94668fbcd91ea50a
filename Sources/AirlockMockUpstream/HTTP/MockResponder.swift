import Foundation
import NIOCore
import NIOHTTP1

/// Turns one complete provider request into a ``ResponsePlan``: record it, take its fault, check auth and headers,
/// parse the body, build the provider's answer.
struct MockResponder {
    let state: MockUpstreamState

    func plan(head: HTTPRequestHead, body: ByteBuffer?, bodyTooLarge: Bool) -> ResponsePlan {
        let uri = head.uri
        let path = uri.firstIndex(of: "?").map { String(uri[..<$0]) } ?? uri
        let now = Date().timeIntervalSince1970
        let (id, fault) = self.state.begin(
            method: head.method.rawValue,
            uri: uri,
            pathOnly: path,
            headers: Self.flatten(head.headers),
            body: body.map { String(decoding: $0.readableBytesView, as: UTF8.self) } ?? "",
            time: now
        )
        var plan = self.answer(
            head: head, path: path, body: body, bodyTooLarge: bodyTooLarge, fault: fault, id: id, now: now)
        plan.apply(fault, defaultChunkDelay: self.state.configuration.chunkDelay)
        plan.requestID = id
        plan.headers.add(name: "x-request-id", value: "req_mock_\(id)")
        self.state.setStatus(id: id, status: plan.hang ? 0 : Int(plan.status.code))
        return plan
    }

    private func answer(
        head: HTTPRequestHead,
        path: String,
        body: ByteBuffer?,
        bodyTooLarge: Bool,
        fault: MockFault,
        id: Int,
        now: Double
    ) -> ResponsePlan {
        guard let route = Route(path: path, headers: head.headers) else {
            let provider = Route.guessProvider(path: path, headers: head.headers)
            return Self.error(provider, 404, "Unknown request URL: \(head.method.rawValue) \(path).")
        }
        if let status = fault.status {
            let retryAfter = fault.retryAfter.map { [("retry-after", $0)] } ?? []
            return Self.error(route.provider, status, "Injected fault: status \(status).", extraHeaders: retryAfter)
        }
        if head.method != route.method {
            return Self.error(route.provider, 405, "Method \(head.method.rawValue) is not allowed on \(path).")
        }
        if let key = self.state.configuration.requiredKey, !route.provider.isAuthorized(head.headers, key: key) {
            let message = route.provider == .anthropic ? "invalid x-api-key" : "Incorrect API key provided."
            return Self.error(route.provider, 401, message)
        }
        if route.provider == .anthropic && (route.endpoint == .messages || route.endpoint == .countTokens)
            && !head.headers.contains(name: "anthropic-version")
        {
            return Self.error(.anthropic, 400, "anthropic-version: header is required")
        }
        if route.provider == .azure && !Self.hasQueryItem(head.uri, "api-version") {
            return Self.error(.azure, 400, "Missing required query parameter: api-version.", param: "api-version")
        }
        if route.endpoint == .models {
            return .json(.ok, ModelList.body(models: self.state.configuration.models, provider: route.provider))
        }
        if bodyTooLarge {
            return Self.error(
                route.provider, 413, "Request body exceeds \(self.state.configuration.maxBodyBytes) bytes.")
        }
        let request: ProviderRequest
        do {
            let data = body.map { Data($0.readableBytesView) } ?? Data()
            request = try ProviderRequest.parse(data, endpoint: route.endpoint, modelRequired: route.deployment == nil)
        } catch {
            return Self.error(route.provider, 400, error.message, param: error.param)
        }
        let model = request.model ?? route.deployment ?? "unknown"
        if route.endpoint == .countTokens {
            return .json(.ok, "{\"input_tokens\":\(request.promptWords)}")
        }
        if route.endpoint == .embeddings {
            let text = OpenAIEmbeddings.body(
                model: model, request: request, dimensions: self.state.configuration.embeddingDimensions)
            return .json(.ok, text)
        }
        let completion = Completion(
            requestID: id, created: Int(now), model: model, reply: self.state.reply, request: request)
        let requestIDHeader = route.provider == .anthropic ? [("request-id", "req_mock_\(id)")] : []
        switch (route.endpoint, request.stream) {
        case (.messages, false): return .json(.ok, AnthropicMessages.body(completion), extraHeaders: requestIDHeader)
        case (.messages, true): return .eventStream(AnthropicMessages.Stream(completion), extraHeaders: requestIDHeader)
        case (.responses, false): return .json(.ok, OpenAIResponses.body(completion))
        case (.responses, true): return .eventStream(OpenAIResponses.Stream(completion))
        case (_, false): return .json(.ok, OpenAIChat.body(completion))
        case (_, true): return .eventStream(OpenAIChat.Stream(completion))
        }
    }

    static func error(
        _ provider: Provider,
        _ status: Int,
        _ message: String,
        param: String? = nil,
        extraHeaders: [(String, String)] = []
    ) -> ResponsePlan {
        .json(
            HTTPResponseStatus(statusCode: status), provider.errorBody(status: status, message: message, param: param),
            extraHeaders: extraHeaders)
    }

    private static func hasQueryItem(_ uri: String, _ name: String) -> Bool {
        guard let mark = uri.firstIndex(of: "?") else { return false }
        return uri[uri.index(after: mark)...].split(separator: "&").contains { item in
            let key = item.split(separator: "=", maxSplits: 1).first ?? ""
            return key == name && item.count > name.count + 1
        }
    }

    private static func flatten(_ headers: HTTPHeaders) -> [String: String] {
        var result: [String: String] = [:]
        result.reserveCapacity(headers.count)
        for (name, value) in headers {
            let key = name.lowercased()
            if let existing = result[key] {
                result[key] = existing + ", " + value
            } else {
                result[key] = value
            }
        }
        return result
    }
}
