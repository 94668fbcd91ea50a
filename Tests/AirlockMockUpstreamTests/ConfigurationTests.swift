import AirlockMockUpstream
import Foundation
import Testing

@Suite("Configuration and fault parsing")
struct ConfigurationTests {
    @Test(arguments: ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", "[::]"])
    func nonLoopbackHostIsRefused(_ host: String) async throws {
        let error = await #expect(throws: MockUpstreamError.self) {
            _ = try await MockUpstreamServer.start(MockUpstreamConfiguration(host: host))
        }
        #expect(error?.code == .nonLoopbackHost)
        #expect(error?.message.contains(host) == true)
    }

    @Test(arguments: ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
    func loopbackHostsAreAccepted(_ host: String) throws {
        try MockUpstreamConfiguration(host: host).validate()
    }

    @Test func startsOnLoopbackAndReportsPort() async throws {
        try await withMockServer { server in
            #expect(server.port > 0)
            let health = try TestConnection(port: server.port).exchange("GET", "/__mock/health")
            #expect(health.status == 200)
        }
    }

    @Test func faultJSONRoundTrip() throws {
        let text =
            #"[{"path":"/v1/chat","count":2,"status":503,"retry_after":"3"},{"hang":true},{"retry_after":7,"delay_before_headers_ms":5,"chunk_delay_ms":6,"reset_after_bytes":9}]"#
        let faults = try MockFault.parseList(json: Array(text.utf8))
        #expect(
            faults == [
                MockFault(path: "/v1/chat", count: 2, status: 503, retryAfter: "3"),
                MockFault(hang: true),
                MockFault(retryAfter: "7", delayBeforeHeadersMs: 5, chunkDelayMs: 6, resetAfterBytes: 9),
            ])
    }

    @Test(arguments: [
        #"[{"stauts":500}]"#, #"[{"status":"500"}]"#, #"[{"status":42}]"#, #"[{"hang":1}]"#, #"[{"count":0}]"#,
        #"[{"count":1.5}]"#, #"[{"reset_after_bytes":true}]"#, #"[5]"#, "nope",
    ])
    func badFaultJSONIsRejected(_ text: String) {
        #expect(throws: MockUpstreamError.self) {
            try MockFault.parseList(json: Array(text.utf8))
        }
    }
}
