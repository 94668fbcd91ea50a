#if canImport(Glibc)
import Glibc
#endif
import AsyncHTTPClient
import NIOCore
import NIOPosix
import AirlockMockUpstream
import AirlockPolicy
import AirlockTestSupport
import NIOCore
import NIOHTTP1
import AirlockReceipts
import Synchronization
import Testing

@testable import AirlockRouter

/// Retry, breaker and failover against the mock's fault knobs: retries happen when they should, and only then.
@Suite("Upstream resilience end to end", .timeLimit(.minutes(1)))
struct ResilienceTests {
    @Test("429/502/503/504 are retried and the agent sees the success; usage is counted once, each 502/504 the worst case", arguments: [429, 502, 503, 504])
    func retried(status: Int) async throws {
        try await withHarness(configure: { c, _ in c.tenants[0].tokensPerDay = 1_000_000 }) { h in
            h.mock.addFault(MockFault(count: 2, status: status, retryAfter: "0"))
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(r.status == 200)
            #expect(h.mock.requestCount == 3)
            let remaining = await h.router.runtimeForTesting.budgets.remaining(tenant: Harness.tenant, now: WallClock.nanoseconds() / 1_000_000_000)
            // 4 prompt + 6 completion tokens, once; two gateway errors the worst case each.
            let refused = status == 502 || status == 504 ? 2 * BudgetReservationTests.worstCase(Harness.chat(), output: SandboxBudget.defaultOutput) : 0
            #expect(remaining.day == 1_000_000 - 10 - refused)
        }
    }

    @Test("Anthropic's 529 overloaded_error is retried like 503, and the agent sees the success")
    func overloaded() async throws {
        try await withHarness { h in
            h.mock.addFault(MockFault(count: 2, status: 529, retryAfter: "0"))
            let r = try await h.request("/v1/messages", body: Harness.anthropicMessage(), headers: [("content-type", "application/json"), ("anthropic-version", "2023-06-01")])
            #expect(r.status == 200)
            #expect(h.mock.requestCount == 3)
        }
    }

    @Test("other failures are not retried", arguments: [400, 401, 403, 404, 422, 500])
    func notRetried(status: Int) async throws {
        try await withHarness { h in
            h.mock.addFault(MockFault(count: 5, status: status))
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(r.status == status)
            #expect(h.mock.requestCount == 1)
        }
    }

    @Test("after the last attempt the upstream's own answer reaches the agent, with Retry-After")
    func exhausted() async throws {
        try await withHarness { h in
            h.mock.addFault(MockFault(count: 10, status: 429, retryAfter: "0"))
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(r.status == 429)
            #expect(h.mock.requestCount == 3)
            #expect(r.headers.first(name: "retry-after") == "0")
        }
    }

    @Test("Retry-After from the upstream is honoured (clamped) before the retry")
    func retryAfterHonoured() async throws {
        try await withHarness { h in
            h.mock.addFault(MockFault(count: 1, status: 503, retryAfter: "1"))
            let start = ContinuousClock.now
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(r.status == 200)
            #expect(ContinuousClock.now - start >= .milliseconds(900))
        }
    }

    @Test("a hang before the response head times out and is retried")
    func hang() async throws {
        // The hang is endless; the timeout is long enough that the healthy retry beats it on a loaded machine.
        try await withHarness(configure: { c, _ in c.upstreams[0].timeouts.responseHeaders = .seconds(3) }) { h in
            h.mock.addFault(MockFault(count: 1, hang: true))
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(r.status == 200)
            #expect(h.mock.requestCount == 2)
        }
    }

    @Test("a delay before headers within the timeout is simply waited for")
    func delayBeforeHeaders() async throws {
        try await withHarness { h in
            h.mock.addFault(MockFault(count: 1, delayBeforeHeadersMs: 300))
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(r.status == 200)
            #expect(h.mock.requestCount == 1)
        }
    }

    @Test("a reset mid-body is never retried: the agent gets an incomplete response, not a second answer")
    func resetMidBody() async throws {
        try await withHarness { h in
            h.mock.addFault(MockFault(count: 1, resetAfterBytes: 40))
            await #expect(throws: (any Error).self) {
                _ = try await h.request("/v1/chat/completions", body: Harness.chat(stream: true))
            }
            #expect(h.mock.requestCount == 1)
        }
    }

    @Test("chunks are passed on as they arrive, not buffered")
    func chunkDelay() async throws {
        try await withHarness { h in
            h.mock.addFault(MockFault(count: 1, chunkDelayMs: 400))
            var request = HTTPClientRequest(url: h.base + "/v1/chat/completions")
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: Harness.chat(stream: true)))
            let start = ContinuousClock.now
            let response = try await h.client.execute(request, timeout: .seconds(10))
            var arrivals: [Duration] = []
            for try await _ in response.body { arrivals.append(ContinuousClock.now - start) }
            // Six words 400 ms apart (2 s from first to last): if the router buffered, every chunk would arrive at
            // once at the end. Half of that spread leaves room for a client thread starved by the other suites.
            #expect(arrivals.count >= 6)
            #expect(arrivals.last! - arrivals.first! >= .milliseconds(1000))
        }
    }

    @Test("connect errors fail over to the next upstream of the route")
    func failover() async throws {
        try await withHarness(configure: { c, _ in
            var dead = c.upstreams[0]
            dead.name = "dead"
            dead.baseURL = "http://127.0.0.1:1"
            c.upstreams.append(dead)
            c.models[0].targets.insert(.init(upstream: "dead", model: "gpt-upstream"), at: 0)
        }) { h in
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(r.status == 200)
            #expect(h.mock.requestCount == 1)
        }
    }

    @Test("the breaker opens after N failures, answers 503 without calling upstream, then probes and closes")
    func breaker() async throws {
        try await withHarness(configure: { c, _ in
            // A cooldown a loaded machine cannot outlast between two requests.
            c.upstreams[0].breaker = BreakerSettings(failures: 2, window: .seconds(60), cooldown: .seconds(6))
            c.retry.attempts = 1
        }) { h in
            h.mock.addFault(MockFault(count: 2, status: 500))
            #expect(try await h.request("/v1/chat/completions", body: Harness.chat()).status == 500)
            #expect(try await h.request("/v1/chat/completions", body: Harness.chat()).status == 500)
            let refused = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(refused.status == 503)
            #expect(refused.body.contains("upstream_unavailable"))
            #expect((1...6).contains(Int(refused.headers.first(name: "retry-after") ?? "") ?? 0))
            #expect(h.mock.requestCount == 2)
            try await Task.sleep(for: .milliseconds(6200))
            #expect(try await h.request("/v1/chat/completions", body: Harness.chat()).status == 200)
            #expect(try await h.request("/v1/chat/completions", body: Harness.chat()).status == 200)
            #expect(h.mock.requestCount == 4)
        }
    }

    @Test("when every upstream's breaker is open the router answers 503 with Retry-After")
    func allOpen() async throws {
        try await withHarness(configure: { c, _ in
            c.upstreams[0].breaker = BreakerSettings(failures: 1, window: .seconds(30), cooldown: .seconds(20))
            c.retry.attempts = 1
        }) { h in
            h.mock.addFault(MockFault(count: 1, status: 502))
            let beforeOpening = ContinuousClock.now
            _ = try await h.request("/v1/chat/completions", body: Harness.chat())
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            // The breaker opened after `beforeOpening`: Retry-After is the rest of its 20 s cooldown, measured
            // against the time that has passed here (a loaded machine can take more than a second between requests).
            let elapsed = ContinuousClock.now - beforeOpening
            let least = 20 - Int(elapsed.components.seconds) - 1
            let retryAfter = Int(r.headers.first(name: "retry-after") ?? "") ?? 0
            #expect(r.status == 503)
            #expect(retryAfter >= least && retryAfter <= 20, "Retry-After \(retryAfter) after \(elapsed)")
        }
    }

    /// Keeps every receipt in memory, for tests that read what the router recorded.
    final class RecordingSink: ReceiptSink, Sendable {
        let records = Mutex<[Receipt]>([])
        func append(_ receipt: Receipt) async throws -> UInt64 {
            records.withLock { $0.append(receipt); return UInt64($0.count - 1) }
        }
        func bodyHasher() -> BodyHasher? { nil }
        var completions: [Receipt] { records.withLock { $0.filter { $0.kind == .completion } } }
    }

    @Test(
        "an agent that leaves (FIN) while the upstream is silent cancels the upstream at once, frees its slot, and the receipt records 499",
        arguments: [Int32(SHUT_WR), Int32(SHUT_RDWR)]
    )
    func leavingCancels(how: Int32) async throws {
        let sink = RecordingSink()
        try await withHarness(receipts: sink, configure: { c, _ in c.upstreams[0].timeouts.responseHeaders = .seconds(60) }) { h in
            // A model that thinks for 30 s before its first byte.
            h.mock.addFault(MockFault(count: 1, delayBeforeHeadersMs: 30_000))
            let socket = try RawSocket(port: h.routerPort)
            let body = Harness.chat(stream: true)
            socket.send("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)")
            #expect(await eventually { h.mock.requestCount == 1 })
            let left = ContinuousClock.now
            shutdown(socket.fd, how)
            let cancelled = await eventually(seconds: 20) { h.mock.recordedRequests().first?.cancelled == true }
            #expect(cancelled)
            // Well under a second on an idle machine; the bound leaves room for a loaded one, far below the 30 s.
            #expect(ContinuousClock.now - left < .seconds(8))
            #expect(await eventually { h.router.runtimeForTesting.limiters.inFlightTotal == 0 })
            #expect(await eventually { !sink.completions.isEmpty })
            let completion = sink.completions.first
            #expect(completion?.reason == "agent_disconnected")
            #expect(completion?.status == 499)
        }
    }

    @Test("an agent that disconnects mid-stream cancels the upstream call")
    func disconnectCancels() async throws {
        try await withHarness { h in
            // Eight chunks a second apart: the stream is still running when the agent leaves, however loaded the
            // machine is.
            h.mock.addFault(MockFault(count: 1, chunkDelayMs: 1_000))
            let socket = try RawSocket(port: h.routerPort)
            let body = Harness.chat(stream: true)
            socket.send("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)")
            #expect(await eventually(seconds: 20) { h.mock.requestCount == 1 })
            try await Task.sleep(for: .milliseconds(400))
            shutdown(socket.fd, Int32(SHUT_RDWR))
            let cancelled = await eventually(seconds: 20) { h.mock.recordedRequests().first?.cancelled == true }
            #expect(cancelled)
        }
    }
}

@Suite("Redirects", .timeLimit(.minutes(1)))
struct RedirectTests {
    /// An upstream that answers every request with a redirect to `location`.
    final class Redirector: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let status: Int
        let location: String

        init(status: Int, location: String) {
            self.status = status
            self.location = location
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            var headers = HTTPHeaders()
            headers.add(name: "location", value: location)
            headers.add(name: "content-length", value: "0")
            context.write(wrapOutboundOut(.head(.init(version: .http1_1, status: .init(statusCode: status), headers: headers))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    @Test("an upstream redirect is never followed: the agent gets the 3xx and the redirect target is never called", arguments: [301, 302, 307, 308])
    func notFollowed(status: Int) async throws {
        try await withHarness { h in
            let target = "http://127.0.0.1:\(h.mock.port)/v1/chat/completions"
            let redirector = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(Redirector(status: status, location: target))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            defer { redirector.close(promise: nil) }
            let port = redirector.localAddress!.port!
            try await withHarness(configure: { c, _ in c.upstreams[0].baseURL = "http://127.0.0.1:\(port)" }) { r in
                let response = try await r.request("/v1/chat/completions", body: Harness.chat())
                #expect(response.status == status)
                #expect(r.mock.requestCount == 0)
            }
            #expect(h.mock.requestCount == 0)
        }
    }
}
