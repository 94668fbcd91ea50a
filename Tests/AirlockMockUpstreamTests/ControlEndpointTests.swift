import AirlockMockUpstream
import Foundation
import Testing

@Suite("Control endpoints")
struct ControlEndpointTests {
    @Test func faultsPostGetDelete() async throws {
        try await withMockServer { server in
            let connection = try TestConnection(port: server.port)
            let posted = try connection.exchange(
                "POST", "/__mock/faults",
                body: #"[{"path":"/v1/embeddings","status":502},{"status":503,"retry_after":"4","count":3}]"#
            )
            #expect(posted.status == 200)
            #expect(try posted.jsonArray().count == 2)
            #expect(server.pendingFaults().count == 2)
            let listed = try connection.exchange("GET", "/__mock/faults").jsonArray()
            #expect(listed.first?["path"] as? String == "/v1/embeddings")
            #expect(listed.last?["count"] as? Int == 3)
            #expect(try connection.exchange("POST", "/v1/chat/completions", body: openAIChatBody).status == 503)
            #expect(server.pendingFaults().last?.count == 2)
            #expect(try connection.exchange("DELETE", "/__mock/faults").status == 200)
            #expect(server.pendingFaults().isEmpty)
            #expect(try connection.exchange("POST", "/v1/chat/completions", body: openAIChatBody).status == 200)
            let bad = try connection.exchange("POST", "/__mock/faults", body: #"[{"status":"x"}]"#)
            #expect(bad.status == 400)
            #expect(bad.body.contains("status"))
        }
    }

    @Test func requestsAreRecordedAndCleared() async throws {
        try await withMockServer { server in
            let connection = try TestConnection(port: server.port)
            _ = try connection.exchange(
                "POST", "/v1/chat/completions?trace=1",
                headers: ["traceparent": "00-abc-def-01", "Authorization": "Bearer k"],
                body: openAIChatBody
            )
            let recorded = try connection.exchange("GET", "/__mock/requests").jsonArray()
            #expect(recorded.count == 1)
            let first = try #require(recorded.first)
            #expect(first["method"] as? String == "POST")
            #expect(first["path"] as? String == "/v1/chat/completions?trace=1")
            #expect(first["body"] as? String == openAIChatBody)
            #expect(first["status"] as? Int == 200)
            #expect(first["cancelled"] as? Bool == false)
            #expect(first["time"] is Double)
            let headers = try #require(first["headers"] as? [String: String])
            #expect(headers["traceparent"] == "00-abc-def-01")
            #expect(headers["authorization"] == "Bearer k")
            #expect(server.recordedRequests().first?.header("Traceparent") == "00-abc-def-01")

            let stats = try connection.exchange("GET", "/__mock/stats").json()
            #expect(stats["total"] as? Int == 1)
            #expect((stats["paths"] as? [String: Int])?["/v1/chat/completions"] == 1)

            #expect(try connection.exchange("DELETE", "/__mock/requests").status == 200)
            #expect(try connection.exchange("GET", "/__mock/requests").jsonArray().isEmpty)
            #expect(server.stats().total == 0)
        }
    }

    @Test func ringBufferKeepsTheNewest() async throws {
        try await withMockServer(MockUpstreamConfiguration(recordLimit: 3)) { server in
            let connection = try TestConnection(port: server.port)
            for index in 0..<5 {
                _ = try connection.exchange("GET", "/v1/models?n=\(index)")
            }
            #expect(server.recordedRequests().map(\.path) == ["/v1/models?n=2", "/v1/models?n=3", "/v1/models?n=4"])
            #expect(server.stats().paths["/v1/models"] == 5)
            #expect(server.requestCount == 5)
        }
    }

    @Test func unknownControlEndpointIs404() async throws {
        try await withMockServer { server in
            let response = try TestConnection(port: server.port).exchange("GET", "/__mock/nothing")
            #expect(response.status == 404)
            #expect(server.requestCount == 0)
        }
    }
}
