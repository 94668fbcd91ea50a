import NIOCore
import NIOHTTP1
import NIOPosix

/// A real HTTP/1.1 server that speaks the OpenAI, Azure OpenAI and Anthropic API shapes, with fault injection and
/// request recording, for the demo, the router's end-to-end tests and benchmarks.
public final class MockUpstreamServer: Sendable {
    private let serverChannel: any Channel
    private let state: MockUpstreamState
    private let connections: ConnectionRegistry

    /// The bound port (useful when the configuration asked for port 0).
    public let port: Int
    /// The configuration the server runs with.
    public var configuration: MockUpstreamConfiguration { self.state.configuration }

    private init(serverChannel: any Channel, state: MockUpstreamState, connections: ConnectionRegistry, port: Int) {
        self.serverChannel = serverChannel
        self.state = state
        self.connections = connections
        self.port = port
    }

    /// Binds and starts serving. Throws ``MockUpstreamError`` with code `.nonLoopbackHost` for a non-loopback
    /// host, and the socket error when binding fails.
    public static func start(
        _ configuration: MockUpstreamConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> MockUpstreamServer {
        try configuration.validate()
        let state = MockUpstreamState(configuration: configuration)
        let connections = ConnectionRegistry()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                guard connections.add(channel) else {
                    return channel.close()
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MockHTTPHandler(state: state))
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
        guard let port = channel.localAddress?.port else {
            try? await channel.close()
            throw MockUpstreamError(code: .invalidPort, message: "mock upstream: bound socket has no port")
        }
        return MockUpstreamServer(serverChannel: channel, state: state, connections: connections, port: port)
    }

    /// Stops listening and closes every open connection (hanging and streaming ones included).
    public func shutdown() async throws {
        try? await self.serverChannel.close()
        for channel in self.connections.closeAll() {
            try? await channel.close()
        }
    }

    /// Requests seen so far, oldest first (bounded by ``MockUpstreamConfiguration/recordLimit``). Same as
    /// `GET /__mock/requests`.
    public func recordedRequests() -> [RecordedRequest] {
        self.state.requests
    }

    /// Forgets recorded requests and resets the counters. Same as `DELETE /__mock/requests`.
    public func clearRequests() {
        self.state.clearRequests()
    }

    /// Appends items to the FIFO fault plan. Same as `POST /__mock/faults`.
    public func addFaults(_ faults: [MockFault]) {
        self.state.appendFaults(faults)
    }

    /// Appends one item to the fault plan.
    public func addFault(_ fault: MockFault) {
        self.state.appendFaults([fault])
    }

    /// Items still waiting in the fault plan. Same as `GET /__mock/faults`.
    public func pendingFaults() -> [MockFault] {
        self.state.faults
    }

    /// Empties the fault plan (the configuration's default fault stays). Same as `DELETE /__mock/faults`.
    public func clearFaults() {
        self.state.clearFaults()
    }

    /// Counters per path. Same as `GET /__mock/stats`.
    public func stats() -> MockStats {
        self.state.stats
    }

    /// Provider requests seen since start or the last ``clearRequests()``.
    public var requestCount: Int {
        self.state.stats.total
    }
}
