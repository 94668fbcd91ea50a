import AirlockMockUpstream
import Foundation
import NIOCore
import Testing

@Suite("Client disconnects and backpressure")
struct CancellationTests {
    @Test func disconnectMidStreamIsRecordedAsCancelled() async throws {
        // Two minutes of stream: however long a loaded machine takes to get from the first chunk to the close, the
        // stream is still running when the close arrives (a short stream could finish first and not be cancelled).
        try await withMockServer(MockUpstreamConfiguration(chunkCount: 1200, chunkDelay: .milliseconds(100))) { server in
            let connection = try TestConnection(port: server.port)
            try connection.sendRequest(
                "POST", "/v1/chat/completions",
                body: #"{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}"#
            )
            #expect(try connection.readHead().status == 200)
            #expect(try connection.readChunk() != nil)
            connection.close()
            #expect(try await eventually { server.recordedRequests().first?.cancelled == true })
            #expect(server.stats().cancelled == 1)
        }
    }

    @Test func disconnectDuringHeaderDelayIsRecordedAsCancelled() async throws {
        try await withMockServer { server in
            // Far longer than the test: a short delay could run out before a starved test thread gets to close(),
            // and the request would then complete instead of being cancelled. The close cancels the timer.
            server.addFault(MockFault(delayBeforeHeadersMs: 120_000))
            let connection = try TestConnection(port: server.port)
            try connection.sendRequest("POST", "/v1/chat/completions", body: openAIChatBody)
            #expect(try await eventually { server.requestCount == 1 })
            connection.close()
            // Generous bound: on a loaded machine the close can take a while to be noticed; success returns at once.
            #expect(try await eventually(timeout: .seconds(10)) { server.recordedRequests().first?.cancelled == true })
        }
    }

    @Test func completedRequestIsNotCancelled() async throws {
        try await withMockServer { server in
            let connection = try TestConnection(port: server.port)
            #expect(try connection.exchange("POST", "/v1/chat/completions", body: openAIChatBody).status == 200)
            connection.close()
            try await Task.sleep(for: .milliseconds(100))
            #expect(server.recordedRequests().first?.cancelled == false)
            #expect(server.stats().cancelled == 0)
        }
    }

    @Test func slowReaderGetsWholeLongStream() async throws {
        // 20,000 events (about 5 MB) exceed the socket buffers, so the server must wait for writability.
        try await withMockServer(MockUpstreamConfiguration(chunkCount: 20_000)) { server in
            let connection = try TestConnection(port: server.port)
            try connection.sendRequest(
                "POST", "/v1/chat/completions",
                body: #"{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}"#
            )
            try await Task.sleep(for: .milliseconds(300))
            let head = try connection.readHead()
            let events = SSEEvent.parse(try connection.readBody(head))
            #expect(events.count == 20_002)
            #expect(events.last?.data == "[DONE]")
        }
    }
}
