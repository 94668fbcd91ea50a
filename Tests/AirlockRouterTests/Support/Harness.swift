#if canImport(Glibc)
import Glibc
#endif
import AirlockMockUpstream
import AirlockPolicy
import AirlockTestSupport
import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import AirlockRouter

/// A real router on a loopback port in front of a real mock upstream, both in this process, talking over
/// real sockets. Every test gets its own pair, its own state directory and its own provider key.
final class Harness: Sendable {
    let mock: MockUpstreamServer
    let router: Router
    let runTask: Task<Void, any Error>
    let directory: String
    let key: String
    let routerPort: Int
    let client: HTTPClient

    static let sandbox = "agent"
    static let tenant = "team"

    /// A configuration with one sandbox for this process's UID, an OpenAI-compatible and an Anthropic upstream
    /// on the mock, and the models `gpt-test` (aliased to `gpt-upstream`), `embed-test` and `claude-test`.
    static func baseConfig(mockPort: Int, directory: String) -> AirlockConfig {
        let keyFile = directory + "/provider.key"
        return AirlockConfig(
            router: RouterSettings(
                listeners: [ListenerConfig(kind: .tcp(host: "127.0.0.1", port: 0))],
                stateDirectory: directory + "/state",
                allowRoot: true,
                drainTimeout: .seconds(2),
                // Generous defaults: the whole suite runs at once on two shared cores; tests of a timeout set their own.
                limits: RouterLimits(headerTimeout: .seconds(15), idleTimeout: .seconds(30))
            ),
            sandboxes: [
                SandboxPolicy(name: sandbox, tenant: tenant, uids: [getuid()], models: ["gpt-test", "embed-test", "claude-test"])
            ],
            tenants: [TenantPolicy(name: tenant)],
            upstreams: [
                UpstreamConfig(
                    name: "mock-openai",
                    kind: .openaiCompatible,
                    baseURL: "http://127.0.0.1:\(mockPort)",
                    credential: .file(keyFile),
                    timeouts: UpstreamTimeouts(connect: .seconds(10), responseHeaders: .seconds(15), idle: .seconds(30))
                ),
                UpstreamConfig(
                    name: "mock-anthropic",
                    kind: .anthropic,
                    baseURL: "http://127.0.0.1:\(mockPort)",
                    credential: .file(keyFile),
                    timeouts: UpstreamTimeouts(connect: .seconds(10), responseHeaders: .seconds(15), idle: .seconds(30))
                ),
            ],
            models: [
                ModelRoute(name: "gpt-test", api: .openai, targets: [.init(upstream: "mock-openai", model: "gpt-upstream")]),
                ModelRoute(name: "embed-test", api: .openai, targets: [.init(upstream: "mock-openai")]),
                ModelRoute(name: "claude-test", api: .anthropic, targets: [.init(upstream: "mock-anthropic")]),
            ],
            retry: RetrySettings(attempts: 3, base: .milliseconds(10), cap: .milliseconds(50), maxRetryAfter: .seconds(1))
        )
    }

    private init(mock: MockUpstreamServer, router: Router, runTask: Task<Void, any Error>, directory: String, key: String) {
        self.mock = mock
        self.router = router
        self.runTask = runTask
        self.directory = directory
        self.key = key
        let address = router.boundAddresses[0]
        self.routerPort = Int(address.split(separator: ":").last!)!
        self.client = HTTPClient(eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton), configuration: .init(timeout: .init(connect: .seconds(10), read: .seconds(40))))
    }

    static func start(
        mockConfiguration: MockUpstreamConfiguration = MockUpstreamConfiguration(),
        directory: String? = nil,
        receipts: (any ReceiptSink)? = DisabledReceipts(),
        configure: (inout AirlockConfig, String) throws -> Void = { _, _ in }
    ) async throws -> Harness {
        let directory = directory ?? TempDirectory.make()
        let key = "sk-test-" + RequestIDs.make()
        try TempDirectory.write(directory + "/provider.key", key, mode: 0o600)
        var mockConfiguration = mockConfiguration
        mockConfiguration.requiredKey = key
        let mock = try await MockUpstreamServer.start(mockConfiguration)
        var config = baseConfig(mockPort: mock.port, directory: directory)
        try configure(&config, directory)
        let issues = config.validate()
        guard issues.isEmpty else {
            try await mock.shutdown()
            throw HarnessError(description: "test configuration invalid: \(issues)")
        }
        let loaded = LoadedConfig(config: config, path: "test.yaml", source: Array("test".utf8))
        var logger = Logger(label: "test.router")
        logger.logLevel = .critical
        let router: Router
        do {
            router = try await Router.start(loaded, receipts: receipts, logger: logger)
        } catch {
            try? await mock.shutdown()
            throw error
        }
        let runTask = Task { try await router.run() }
        return Harness(mock: mock, router: router, runTask: runTask, directory: directory, key: key)
    }

    func stop() async {
        router.initiateShutdown()
        _ = await runTask.result
        try? await client.shutdown()
        try? await mock.shutdown()
    }

    var base: String { "http://127.0.0.1:\(routerPort)" }

    struct Response {
        var status: Int
        var headers: HTTPHeaders
        var body: String
    }

    func request(
        _ path: String,
        body: String? = nil,
        headers: [(String, String)] = [("content-type", "application/json")]
    ) async throws -> Response {
        try await request(.POST, path, body: body, headers: headers)
    }

    func request(
        _ method: HTTPMethod,
        _ path: String,
        body: String? = nil,
        headers: [(String, String)] = [("content-type", "application/json")]
    ) async throws -> Response {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(request, timeout: .seconds(45))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return Response(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }

    static func chat(model: String = "gpt-test", stream: Bool = false, extra: String = "") -> String {
        #"{"model":"\#(model)","messages":[{"role":"user","content":"one two three four"}],"stream":\#(stream)\#(extra)}"#
    }

    static func anthropicMessage(stream: Bool = false) -> String {
        #"{"model":"claude-test","max_tokens":64,"stream":\#(stream),"messages":[{"role":"user","content":"hello there"}]}"#
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
}

/// Runs `body` with a started harness and always stops it.
func withHarness(
    mockConfiguration: MockUpstreamConfiguration = MockUpstreamConfiguration(),
    receipts: (any ReceiptSink)? = DisabledReceipts(),
    configure: (inout AirlockConfig, String) throws -> Void = { _, _ in },
    _ body: (Harness) async throws -> Void
) async throws {
    let harness = try await Harness.start(mockConfiguration: mockConfiguration, receipts: receipts, configure: configure)
    do {
        try await body(harness)
    } catch {
        await harness.stop()
        throw error
    }
    await harness.stop()
}
