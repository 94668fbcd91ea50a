#if canImport(Glibc)
import Glibc
#endif
import AirlockMockUpstream
import AirlockPolicy
import AirlockTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Testing

@testable import AirlockRouter

/// Each upstream kind's wire contract (URL, credential header), and TLS verification of upstreams.
@Suite("Upstream kinds and TLS", .timeLimit(.minutes(1)))
struct ProviderKindsTests {
    @Test("Azure OpenAI: deployment URL, api-version, api-key header, no Authorization; unsupported routes refused")
    func azure() async throws {
        try await withHarness(configure: { c, dir in
            c.upstreams.append(
                UpstreamConfig(
                    name: "azure",
                    kind: .azureOpenAI,
                    baseURL: c.upstreams[0].baseURL,
                    credential: .file(dir + "/provider.key"),
                    apiVersion: "2024-10-21",
                    deployments: ["gpt-upstream": "prod-deploy"]
                )
            )
            c.models.append(ModelRoute(name: "gpt-azure", api: .openai, targets: [.init(upstream: "azure", model: "gpt-upstream")]))
            c.sandboxes[0].models.append("gpt-azure")
        }) { h in
            let r = try await h.request(
                "/v1/chat/completions",
                body: Harness.chat(model: "gpt-azure"),
                headers: [("content-type", "application/json"), ("authorization", "Bearer agent")]
            )
            #expect(r.status == 200)
            let seen = try #require(h.mock.recordedRequests().last)
            #expect(seen.path == "/openai/deployments/prod-deploy/chat/completions?api-version=2024-10-21")
            #expect(seen.header("api-key") == h.key)
            #expect(seen.header("authorization") == nil)
            let responses = try await h.request("/v1/responses", body: #"{"model":"gpt-azure","input":"x"}"#)
            #expect(responses.status == 400)
            #expect(responses.body.contains("unsupported_endpoint"))
        }
    }

    @Test("OpenAI kind: Authorization: Bearer with the router's key")
    func openAI() async throws {
        try await withHarness(configure: { c, _ in c.upstreams[0].kind = .openai }) { h in
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(r.status == 200)
            #expect(h.mock.recordedRequests().last?.header("authorization") == "Bearer \(h.key)")
        }
    }

    /// A TLS HTTP server on loopback that answers every request with a chat completion.
    static func startTLSUpstream(directory: String) async throws -> (any Channel, String) {
        let certificate = directory + "/upstream-cert.pem"
        let key = directory + "/upstream-key.pem"
        try await offPool {
            let make = Process()
            make.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            make.arguments = [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                "-subj", "/CN=upstream.test", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", certificate,
            ]
            make.standardError = FileHandle.nullDevice
            try make.run()
            make.waitUntilExit()
        }
        let tls = try NIOSSLContext(
            configuration: .makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
                privateKey: .file(key)
            )
        )
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(CannedCompletion())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return (channel, certificate)
    }

    final class CannedCompletion: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            let body = #"{"id":"tls","object":"chat.completion","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "application/json")
            headers.add(name: "content-length", value: String(body.utf8.count))
            context.write(wrapOutboundOut(.head(.init(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    @Test("upstream TLS is verified: a configured CA bundle is trusted, an unknown certificate is refused", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "needs openssl to make a test certificate"))
    func tlsVerification() async throws {
        let directory = TempDirectory.make()
        let (server, certificate) = try await Self.startTLSUpstream(directory: directory)
        let port = server.localAddress!.port!
        func configure(_ trusted: Bool) -> (inout AirlockConfig, String) throws -> Void {
            { c, _ in
                c.upstreams[0].baseURL = "https://127.0.0.1:\(port)"
                c.upstreams[0].caFile = trusted ? certificate : nil
                c.retry.attempts = 1
            }
        }
        try await withHarness(configure: configure(true)) { h in
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(r.status == 200)
            #expect(r.body.contains("\"id\":\"tls\""))
        }
        try await withHarness(configure: configure(false)) { h in
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(r.status == 502)
            #expect(r.body.contains("upstream_unreachable"))
        }
        try await server.close()
    }
}
