import AirlockMockUpstream
import Foundation

/// Starts a mock on an ephemeral loopback port for the duration of `body`, and always shuts it down.
func withMockServer<T>(
    _ configuration: MockUpstreamConfiguration = MockUpstreamConfiguration(),
    _ body: (MockUpstreamServer) async throws -> T
) async throws -> T {
    let server = try await MockUpstreamServer.start(configuration)
    do {
        let result = try await body(server)
        try await server.shutdown()
        return result
    } catch {
        try? await server.shutdown()
        throw error
    }
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(3), _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

let openAIChatBody =
    #"{"model":"gpt-test","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"say hello now"}]}]}"#
let anthropicHeaders = ["anthropic-version": "2023-06-01"]
