import NIOCore
import NIOHTTP1

/// The `/__mock/` endpoints tests use to drive faults and read what the mock saw. Not recorded, not authenticated.
enum ControlEndpoints {
    static let prefix = "/__mock/"

    static func plan(head: HTTPRequestHead, body: ByteBuffer?, state: MockUpstreamState) -> ResponsePlan {
        let path = head.uri.firstIndex(of: "?").map { String(head.uri[..<$0]) } ?? head.uri
        switch (head.method, path) {
        case (.POST, "/__mock/faults"):
            do {
                let faults = try MockFault.parseList(json: body.map { Array($0.readableBytesView) } ?? [])
                state.appendFaults(faults)
                return .json(.ok, faultsJSON(state.faults))
            } catch {
                return MockResponder.error(.openAI, 400, error.message)
            }
        case (.GET, "/__mock/faults"):
            return .json(.ok, faultsJSON(state.faults))
        case (.DELETE, "/__mock/faults"):
            state.clearFaults()
            return .json(.ok, "[]")
        case (.GET, "/__mock/requests"):
            return .json(.ok, JSONText.array(state.requests.map(\.jsonText)))
        case (.DELETE, "/__mock/requests"):
            state.clearRequests()
            return .json(.ok, "[]")
        case (.GET, "/__mock/stats"):
            return .json(.ok, state.stats.jsonText)
        case (.GET, "/__mock/health"):
            return .json(.ok, "{\"status\":\"ok\"}")
        default:
            return MockResponder.error(.openAI, 404, "Unknown control endpoint: \(head.method.rawValue) \(path).")
        }
    }

    static func faultsJSON(_ faults: [MockFault]) -> String {
        JSONText.array(faults.map(\.jsonText))
    }
}

extension RecordedRequest {
    /// The JSON object served by `GET /__mock/requests`.
    var jsonText: String {
        let headers = JSONText.object(
            self.headers.sorted { $0.key < $1.key }.map { ($0.key, JSONText.quoted($0.value)) })
        return JSONText.object([
            ("id", String(self.id)),
            ("method", JSONText.quoted(self.method)),
            ("path", JSONText.quoted(self.path)),
            ("headers", headers),
            ("body", JSONText.quoted(self.body)),
            ("time", String(self.time)),
            ("status", String(self.status)),
            ("cancelled", self.cancelled ? "true" : "false"),
        ])
    }
}

extension MockStats {
    /// The JSON object served by `GET /__mock/stats`.
    var jsonText: String {
        let paths = JSONText.object(self.paths.sorted { $0.key < $1.key }.map { ($0.key, String($0.value)) })
        return JSONText.object([("total", String(self.total)), ("cancelled", String(self.cancelled)), ("paths", paths)])
    }
}
