#if canImport(Glibc)
import Glibc
#endif
import AirlockMockUpstream
import AirlockPolicy
import AirlockTestSupport
import NIOCore
import NIOHTTP1
import Testing

@testable import AirlockRouter

@Suite("Credential isolation end to end", .timeLimit(.minutes(1)))
struct CredentialTests {
    static let agentHeaders = [
        ("content-type", "application/json"), ("authorization", "Bearer agent-secret-1"), ("api-key", "agent-secret-2"),
        ("x-api-key", "agent-secret-3"), ("cookie", "session=agent-secret-4"), ("openai-organization", "org-agent"),
        ("openai-project", "proj-agent"),
    ]

    @Test("the agent's credentials are dropped, the router's key injected, and the key never comes back")
    func openAI() async throws {
        try await withHarness { h in
            let r = try await h.request("/v1/chat/completions", body: Harness.chat(), headers: Self.agentHeaders)
            #expect(r.status == 200)
            let seen = try #require(h.mock.recordedRequests().first)
            #expect(seen.header("authorization") == "Bearer \(h.key)")
            for name in ["api-key", "x-api-key", "cookie", "openai-organization", "openai-project"] {
                #expect(seen.header(name) == nil, "\(name) reached the upstream")
            }
            #expect(!seen.headers.values.contains { $0.contains("agent-secret") })
            #expect(!r.body.contains(h.key))
            #expect(!r.headers.contains { $0.value.contains(h.key) })
        }
    }

    @Test("a stream and an upstream error never show the key either")
    func streamAndError() async throws {
        try await withHarness { h in
            let s = try await h.request("/v1/chat/completions", body: Harness.chat(stream: true), headers: Self.agentHeaders)
            #expect(s.status == 200)
            #expect(!s.body.contains(h.key))
            h.mock.addFault(MockFault(status: 401))
            let e = try await h.request("/v1/chat/completions", body: Harness.chat(), headers: Self.agentHeaders)
            #expect(e.status == 401)
            #expect(!e.body.contains(h.key) && !e.headers.contains { $0.value.contains(h.key) })
        }
    }

    @Test("Anthropic: the agent's x-api-key and Authorization are replaced by the router's key")
    func anthropic() async throws {
        try await withHarness { h in
            let r = try await h.request("/v1/messages", body: Harness.anthropicMessage(), headers: Self.agentHeaders)
            #expect(r.status == 200)
            let seen = try #require(h.mock.recordedRequests().first)
            #expect(seen.header("x-api-key") == h.key)
            #expect(seen.header("authorization") == nil)
        }
    }

    @Test("a credential file other users can read is refused at start, naming the file but not the key")
    func worldReadableKey() async throws {
        await #expect {
            try await Harness.start { _, dir in
                try TempDirectory.write(dir + "/provider.key", "sk-visible", mode: 0o644)
            }
        } throws: { error in
            let text = "\(error)"
            return text.contains("provider.key") && text.contains("accessible to other users") && !text.contains("sk-visible")
        }
    }
}

@Suite("Key file permissions", .timeLimit(.minutes(1)))
struct KeyFilePermissionTests {
    @Test("provider keys: other users' access or group write is refused; owner-only and group-read are accepted", arguments: [
        (mode_t(0o600), true), (0o400, true), (0o640, true), (0o440, true), (0o660, false), (0o604, false), (0o644, false), (0o666, false),
    ])
    func providerKey(mode: mode_t, accepted: Bool) async throws {
        let result = await Result(catching: {
            try await Harness.start { _, dir in
                try TempDirectory.write(dir + "/provider.key", "sk-mode-test", mode: mode)
            }
        })
        switch result {
        case .success(let harness):
            #expect(accepted, "mode \(String(mode, radix: 8)) was accepted")
            await harness.stop()
        case .failure(let error):
            #expect(!accepted, "mode \(String(mode, radix: 8)) was refused: \(error)")
            #expect("\(error)".contains("provider.key") && !"\(error)".contains("sk-mode-test"))
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
