#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy
import AirlockTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

@testable import AirlockRouter

/// The router's own upstream client, against small upstreams written here for one behaviour each.
@Suite("Upstream client", .timeLimit(.minutes(2)))
struct UpstreamClientTests {
    /// Counts connections and requests; answers each request with a small chat completion, optionally with
    /// `Connection: close`, or closes the connection shortly after answering without saying so (as upstreams do
    /// when their keep-alive timer runs out).
    final class CountingUpstream: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        /// `dropReused`: the first request on a connection is answered; any later one on it is read and the
        /// connection closed without a byte of answer, as when the upstream's keep-alive timer fires just as the
        /// request arrives. `dropAll`: every request is met that way.
        enum Mode { case keepAlive, connectionClose, silentClose, dropReused, dropAll }
        let mode: Mode
        let connections = Atomic<Int>(0)
        let requests = Atomic<Int>(0)
        let dropped = Atomic<Int>(0)
        private let answeredOn = Mutex<Set<ObjectIdentifier>>([])

        init(mode: Mode) {
            self.mode = mode
        }

        func channelActive(context: ChannelHandlerContext) {
            connections.add(1, ordering: .relaxed)
            context.fireChannelActive()
        }

        func channelInactive(context: ChannelHandlerContext) {
            // A later channel may be given the same identifier.
            _ = answeredOn.withLock { $0.remove(ObjectIdentifier(context.channel)) }
            context.fireChannelInactive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            let first = answeredOn.withLock { $0.insert(ObjectIdentifier(context.channel)).inserted }
            if mode == .dropAll || (mode == .dropReused && !first) {
                dropped.add(1, ordering: .relaxed)
                context.close(promise: nil)
                return
            }
            requests.add(1, ordering: .relaxed)
            let body = #"{"id":"c","object":"chat.completion","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "application/json")
            headers.add(name: "content-length", value: String(body.utf8.count))
            if mode == .connectionClose { headers.add(name: "connection", value: "close") }
            context.write(wrapOutboundOut(.head(.init(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { [mode] _ in
                switch mode {
                case .keepAlive, .dropReused, .dropAll: break
                case .connectionClose: channel.close(promise: nil)
                case .silentClose:
                    channel.eventLoop.scheduleTask(in: .milliseconds(20)) { channel.close(promise: nil) }
                }
            }
        }
    }

    static func serve(_ handler: CountingUpstream) async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    /// Sends `count` sequential chat requests through a router in front of a `CountingUpstream` in `mode`, one
    /// attempt each, pausing `pause` between them; every one must succeed. Returns the upstream's counts.
    static func exchange(_ mode: CountingUpstream.Mode, count: Int, pause: Duration = .zero) async throws -> (requests: Int, connections: Int) {
        let upstream = CountingUpstream(mode: mode)
        let server = try await serve(upstream)
        defer { server.close(promise: nil) }
        try await withHarness(configure: { c, _ in
            c.upstreams[0].baseURL = "http://127.0.0.1:\(server.localAddress!.port!)"
            c.retry.attempts = 1
        }) { h in
            for _ in 0..<count {
                let r = try await h.request("/v1/chat/completions", body: Harness.chat())
                #expect(r.status == 200)
                if pause > .zero { try await Task.sleep(for: pause) }
            }
        }
        return (upstream.requests.load(ordering: .relaxed), upstream.connections.load(ordering: .relaxed))
    }

    @Test("sequential requests of one agent connection reuse one upstream connection")
    func reuse() async throws {
        let counts = try await Self.exchange(.keepAlive, count: 20)
        #expect(counts.requests == 20)
        // One agent connection lives on one event loop, and so does its upstream connection.
        #expect(counts.connections == 1)
    }

    @Test("an upstream that says Connection: close gets a new connection for every request, and every request succeeds")
    func connectionClose() async throws {
        let counts = try await Self.exchange(.connectionClose, count: 10)
        #expect(counts.requests == 10)
        #expect(counts.connections == 10)
    }

    @Test("a pooled connection the upstream closed while idle is never used: the next request succeeds without a retry")
    func idleCloseByPeer() async throws {
        let counts = try await Self.exchange(.silentClose, count: 5, pause: .milliseconds(150))
        #expect(counts.requests == 5)
        #expect(counts.connections == 5)
    }

    @Test(
        "a kept-alive connection the upstream closes as the request arrives: the request goes once more on a new connection, not to the agent as a 502"
    )
    func closedAsRequestArrives() async throws {
        let upstream = CountingUpstream(mode: .dropReused)
        let server = try await Self.serve(upstream)
        defer { server.close(promise: nil) }
        try await withHarness(configure: { c, _ in
            c.upstreams[0].baseURL = "http://127.0.0.1:\(server.localAddress!.port!)"
            c.retry.attempts = 1
        }) { h in
            for _ in 0..<4 {
                let r = try await h.request("/v1/chat/completions", body: Harness.chat())
                #expect(r.status == 200, "\(r.body)")
            }
        }
        // Requests 2-4 each met a closing pooled connection first and were answered on a new one.
        #expect(upstream.requests.load(ordering: .relaxed) == 4)
        #expect(upstream.dropped.load(ordering: .relaxed) == 3)
        #expect(upstream.connections.load(ordering: .relaxed) == 4)
    }

    @Test("a new connection closed before any answer is an upstream failure: 502, sent once, no second connection")
    func closedOnNewConnection() async throws {
        let upstream = CountingUpstream(mode: .dropAll)
        let server = try await Self.serve(upstream)
        defer { server.close(promise: nil) }
        try await withHarness(configure: { c, _ in
            c.upstreams[0].baseURL = "http://127.0.0.1:\(server.localAddress!.port!)"
            c.retry.attempts = 1
        }) { h in
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(r.status == 502, "\(r.body)")
        }
        #expect(upstream.dropped.load(ordering: .relaxed) == 1)
        #expect(upstream.connections.load(ordering: .relaxed) == 1)
    }

    /// Streams `total` bytes of SSE as fast as the socket takes them and records how many it got out.
    final class FirehoseUpstream: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let total: Int
        let written = Atomic<Int>(0)

        init(total: Int) {
            self.total = total
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "text/event-stream")
            context.writeAndFlush(wrapOutboundOut(.head(.init(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            let line = "data: " + String(repeating: "x", count: 16 * 1024 - 8) + "\n\n"
            let chunk = context.channel.allocator.buffer(string: line)
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            func pump(_ sent: Int) {
                let context = bound.value
                guard sent < total else {
                    context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                    return
                }
                context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(chunk)))).whenSuccess {
                    self.written.add(chunk.readableBytes, ordering: .relaxed)
                    pump(sent + chunk.readableBytes)
                }
            }
            pump(0)
        }
    }

    @Test("a slow agent holds the upstream back: the router stops reading instead of buffering the stream")
    func backpressure() async throws {
        let total = 48 << 20
        let upstream = FirehoseUpstream(total: total)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(upstream)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { server.close(promise: nil) }
        try await withHarness(configure: { c, _ in
            c.upstreams[0].baseURL = "http://127.0.0.1:\(server.localAddress!.port!)"
            c.upstreams[0].timeouts.idle = .seconds(30)
        }) { h in
            try await offPool {
                let socket = try RawSocket(port: h.routerPort, timeoutSeconds: 10)
                let body = Harness.chat(stream: true)
                try socket.send(
                    "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
                )
                // The agent reads nothing for a while: what left the upstream is bounded by socket buffers and the
                // router's small read-ahead, not by the size of the stream.
                Thread.sleep(forTimeInterval: 1.5)
                let stalled = upstream.written.load(ordering: .relaxed)
                #expect(stalled < 16 << 20, "the upstream got \(stalled) bytes out while the agent read nothing")
                var received = 0
                var buffer = [UInt8](repeating: 0, count: 1 << 20)
                let deadline = Date().addingTimeInterval(60)
                while Date() < deadline && received < total {
                    let n = buffer.withUnsafeMutableBytes { recv(socket.fd, $0.baseAddress, $0.count, 0) }
                    if n <= 0 { break }
                    received += n
                }
                #expect(received >= total, "the agent got \(received) of \(total) bytes")
            }
        }
    }
}
