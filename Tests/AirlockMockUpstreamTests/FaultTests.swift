import AirlockMockUpstream
import Foundation
import NIOCore
import Testing

@Suite("Fault knobs")
struct FaultTests {
    @Test func statusWithRetryAfterIsConsumedInOrder() async throws {
        try await withMockServer { server in
            server.addFaults([
                MockFault(path: "/v1/chat/completions", count: 2, status: 429, retryAfter: "2"),
                MockFault(path: "/v1/messages", status: 529),
            ])
            let connection = try TestConnection(port: server.port)
            for _ in 0..<2 {
                let limited = try connection.exchange("POST", "/v1/chat/completions", body: openAIChatBody)
                #expect(limited.status == 429)
                #expect(limited.head.header("retry-after") == "2")
                let error = try #require(try limited.json()["error"] as? [String: Any])
                #expect(error["code"] as? String == "rate_limit_exceeded")
            }
            #expect(try connection.exchange("POST", "/v1/chat/completions", body: openAIChatBody).status == 200)
            let overloaded = try connection.exchange(
                "POST", "/v1/messages", headers: anthropicHeaders,
                body: #"{"model":"c","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#
            )
            #expect(overloaded.status == 529)
            #expect(overloaded.head.header("retry-after") == nil)
            #expect((try overloaded.json()["error"] as? [String: Any])?["type"] as? String == "overloaded_error")
            #expect(server.pendingFaults().isEmpty)
        }
    }

    @Test func delayBeforeHeaders() async throws {
        try await withMockServer { server in
            server.addFault(MockFault(delayBeforeHeadersMs: 300))
            let connection = try TestConnection(port: server.port)
            let clock = ContinuousClock()
            let start = clock.now
            try connection.sendRequest("POST", "/v1/chat/completions", body: openAIChatBody)
            let head = try connection.readHead()
            let elapsed = clock.now - start
            #expect(head.status == 200)
            _ = try connection.readBody(head)
            #expect(elapsed >= .milliseconds(290))
            #expect(elapsed < .seconds(3))
            let quick = clock.now
            #expect(try connection.exchange("POST", "/v1/chat/completions", body: openAIChatBody).status == 200)
            #expect(clock.now - quick < .milliseconds(250))
        }
    }

    @Test func chunkDelaySpacesStreamEvents() async throws {
        try await withMockServer { server in
            server.addFault(MockFault(chunkDelayMs: 60))
            let connection = try TestConnection(port: server.port)
            try connection.sendRequest(
                "POST", "/v1/chat/completions",
                body: #"{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}"#
            )
            #expect(try connection.readHead().status == 200)
            let clock = ContinuousClock()
            var arrivals: [ContinuousClock.Instant] = []
            var text = ""
            while let chunk = try connection.readChunk() {
                arrivals.append(clock.now)
                text += String(decoding: chunk, as: UTF8.self)
            }
            // 6 word chunks, the finish chunk and [DONE]: 8 events, 7 gaps.
            #expect(arrivals.count == 8)
            let gaps = zip(arrivals.dropFirst(), arrivals).map { $0 - $1 }
            #expect(gaps.allSatisfy { $0 >= .milliseconds(45) })
            #expect(SSEEvent.parse(text).last?.data == "[DONE]")
        }
    }

    @Test func configuredChunkDelayAppliesWithoutFault() async throws {
        try await withMockServer(MockUpstreamConfiguration(reply: "a b c", chunkDelay: .milliseconds(80))) { server in
            let clock = ContinuousClock()
            let start = clock.now
            let body = #"{"model":"c","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#
            let response = try TestConnection(port: server.port).exchange(
                "POST", "/v1/messages", headers: anthropicHeaders, body: body)
            // 8 events, 7 pauses of 80 ms.
            #expect(SSEEvent.parse(response.body).count == 8)
            #expect(clock.now - start >= .milliseconds(550))
        }
    }

    @Test func resetMidBodyNonStreaming() async throws {
        try await withMockServer { server in
            server.addFault(MockFault(resetAfterBytes: 10))
            let connection = try TestConnection(port: server.port)
            try connection.sendRequest("POST", "/v1/chat/completions", body: openAIChatBody)
            let head = try connection.readHead()
            #expect(head.status == 200)
            let length = try #require(head.header("content-length").flatMap(Int.init))
            #expect(length > 10)
            let (bytes, error) = connection.readExactly(length)
            #expect(bytes.count == 10)
            #expect(error == .reset)
        }
    }

    @Test func resetMidStream() async throws {
        try await withMockServer { server in
            server.addFault(MockFault(resetAfterBytes: 300))
            let connection = try TestConnection(port: server.port)
            try connection.sendRequest(
                "POST", "/v1/messages", headers: anthropicHeaders,
                body: #"{"model":"c","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#
            )
            #expect(try connection.readHead().status == 200)
            var received = 0
            var failure: (any Error)?
            do {
                while let chunk = try connection.readChunk() {
                    received += chunk.count
                }
            } catch {
                failure = error
            }
            #expect(failure as? TestConnection.ReadError == .reset)
            // The cut event is sent as a shorter chunk, so exactly the budget arrives before the RST.
            #expect(received == 300)
            #expect(server.recordedRequests().first?.cancelled == false)
        }
    }

    @Test func hangUntilClientTimesOutThenRecordedAsCancelled() async throws {
        try await withMockServer { server in
            server.addFault(MockFault(hang: true))
            let connection = try TestConnection(port: server.port, timeout: .milliseconds(300))
            try connection.sendRequest("POST", "/v1/chat/completions", body: openAIChatBody)
            #expect(throws: TestConnection.ReadError.timedOut) {
                _ = try connection.readHead()
            }
            #expect(server.recordedRequests().first?.cancelled == false)
            connection.close()
            #expect(try await eventually { server.recordedRequests().first?.cancelled == true })
            #expect(server.stats().cancelled == 1)
            let after = try TestConnection(port: server.port).exchange(
                "POST", "/v1/chat/completions", body: openAIChatBody)
            #expect(after.status == 200)
        }
    }

    @Test func defaultFaultAppliesWhenPlanIsEmpty() async throws {
        let configuration = MockUpstreamConfiguration(defaultFault: MockFault(status: 503, retryAfter: "1"))
        try await withMockServer(configuration) { server in
            server.addFault(MockFault(status: 500))
            let connection = try TestConnection(port: server.port)
            #expect(try connection.exchange("POST", "/v1/chat/completions", body: openAIChatBody).status == 500)
            let defaulted = try connection.exchange("POST", "/v1/chat/completions", body: openAIChatBody)
            #expect(defaulted.status == 503)
            #expect(defaulted.head.header("retry-after") == "1")
        }
    }
}
