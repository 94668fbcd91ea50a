#if canImport(Glibc)
import Glibc
#endif
import AirlockMockUpstream
import AirlockPolicy
import AirlockReceipts
import AirlockTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Logging
import Testing

@testable import AirlockRouter

/// The router writing the real receipt log: what is recorded, in what order, that it verifies, and that the
/// router fails closed when it cannot record.
@Suite("Receipts from the router", .timeLimit(.minutes(1)))
struct ReceiptWiringTests {
    static func withLoggedHarness(_ body: (Harness, String, NoteVerifierKey) async throws -> Void) async throws {
        let directory = TempDirectory.make()
        let signer = try CheckpointSigner.generate(name: "airlock.test/receipts")
        try signer.write(toPrefix: directory + "/signing")
        let harness = try await Harness.start(directory: directory, receipts: nil) { c, dir in
            c.receipts = ReceiptSettings(directory: dir + "/receipts", origin: "airlock.test/receipts", signingKeys: [dir + "/signing.key"])
        }
        do {
            try await body(harness, directory + "/receipts", signer.verifierKey)
        } catch {
            await harness.stop()
            throw error
        }
        await harness.stop()
    }

    static func entries(_ directory: String) throws -> [ReceiptEntry] {
        var all: [ReceiptEntry] = []
        try LogReader(directory: directory).forEach { all.append($0); return true }
        return all
    }

    @Test("admitted, denied and streamed requests are recorded in order, and the log verifies offline")
    func recorded() async throws {
        try await Self.withLoggedHarness { h, directory, key in
            #expect(try await h.request("/v1/chat/completions", body: Harness.chat()).status == 200)
            #expect(try await h.request("/v1/chat/completions", body: Harness.chat(model: "gpt-forbidden")).status == 403)
            #expect(try await h.request("/v1/messages", body: Harness.anthropicMessage(stream: true)).status == 200)
            await h.stop()
            let report = try Auditor(directory: directory, keys: [key]).verify()
            #expect(report.isValid, "\(report.summary)")
            let records = try Self.entries(directory)
            let kinds = records.map { $0.kind ?? "?" }
            // The log's own key record, the router start, then request/completion pairs with the denial between.
            #expect(kinds == ["admin", "admin", "request", "completion", "request", "request", "completion"])
            let request = records[2]
            let completion = records[3]
            #expect(request["decision"]?.stringValue == "allow")
            #expect(request["model"]?.stringValue == "gpt-test")
            #expect(request["request_hmac"] != nil)
            #expect(completion["request_index"] == .integer(2))
            #expect(completion["status"] == .integer(200))
            #expect(completion["tokens_in"] == .integer(4) && completion["tokens_out"] == .integer(6))
            #expect(completion["attempts"] == .integer(1))
            #expect(completion["response_hmac"] != nil)
            #expect(completion["policy_digest"]?.stringValue?.count == 64)
            let denied = records[4]
            #expect(denied["decision"]?.stringValue == "deny" && denied["reason"]?.stringValue == "model_not_allowed")
            #expect(denied["status"] == .integer(403))
            #expect(records[6]["tokens_out"] == .integer(6))
            #expect(records[6]["provider"]?.stringValue == "anthropic")
        }
    }

    @Test("no prompt or completion text reaches the log directory")
    func noContent() async throws {
        try await Self.withLoggedHarness { h, directory, _ in
            let marker = "MARKER-\(UInt64.random(in: 0...UInt64.max))"
            let body = #"{"model":"gpt-test","messages":[{"role":"user","content":"\#(marker)"}]}"#
            #expect(try await h.request("/v1/chat/completions", body: body).status == 200)
            #expect(try await h.request("/v1/chat/completions", body: body.replacingOccurrences(of: "}]}", with: "}],\"stream\":true}")).status == 200)
            await h.stop()
            var scanned = 0
            for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
                scanned += bytes.count
                #expect(bytes.range(of: Data(marker.utf8)) == nil, "\(name) holds prompt text")
                #expect(bytes.range(of: Data("Hello from the Airlock".utf8)) == nil, "\(name) holds completion text")
            }
            #expect(scanned > 0)
        }
    }

    /// A receipt sink that cannot write.
    struct BrokenSink: ReceiptSink {
        struct Full: Error {}
        func append(_ receipt: Receipt) async throws -> UInt64 {
            if receipt.kind == .admin { return 0 }
            throw Full()
        }
        func bodyHasher() -> BodyHasher? { nil }
    }

    @Test("if the receipt log cannot be written the router answers 503 and makes no upstream call")
    func failClosed() async throws {
        try await withHarness(receipts: BrokenSink()) { h in
            let r = try await h.request("/v1/chat/completions", body: Harness.chat())
            #expect(r.status == 503)
            #expect(r.body.contains("receipt_log_unavailable"))
            #expect(h.mock.requestCount == 0)
        }
    }

    @Test("a router whose receipt log cannot be opened does not start")
    func unopenable() async throws {
        await #expect(throws: (any Error).self) {
            try await Harness.start(receipts: nil) { c, dir in
                try TempDirectory.write(dir + "/bad.key", "not a key", mode: 0o600)
                c.receipts = ReceiptSettings(directory: dir + "/receipts", origin: "o", signingKeys: [dir + "/bad.key"])
            }
        }
    }
}

@Suite("Reload", .timeLimit(.minutes(1)))
struct ReloadTests {
    @Test("a reload swaps the configuration atomically, changes the receipts' policy digest, and a bad file keeps the old one")
    func reload() async throws {
        let directory = TempDirectory.make()
        let signer = try CheckpointSigner.generate(name: "airlock.test/reload")
        try signer.write(toPrefix: directory + "/signing")
        let mock = try await MockUpstreamServer.start(MockUpstreamConfiguration(requiredKey: "sk-reload"))
        try TempDirectory.write(directory + "/provider.key", "sk-reload", mode: 0o600)
        func config(models: String) -> String {
            """
            version: 1
            router:
              listeners: [{tcp: "127.0.0.1:0"}]
              state_directory: \(directory)/state
              allow_root: true
            tenants: [{name: team}]
            sandboxes: [{name: agent, tenant: team, uids: [\(getuid())], models: [\(models)]}]
            upstreams: [{name: mock, kind: openai-compatible, base_url: "http://127.0.0.1:\(mock.port)", credential: {file: \(directory)/provider.key}}]
            models:
              - {name: gpt-test, api: openai, targets: [{upstream: mock}]}
              - {name: embed-test, api: openai, targets: [{upstream: mock}]}
            receipts: {directory: \(directory)/receipts, origin: airlock.test/reload, signing_keys: [\(directory)/signing.key]}
            """
        }
        let path = directory + "/airlock.yaml"
        try TempDirectory.write(path, config(models: "gpt-test"), mode: 0o644)
        var logger = Logger(label: "test.reload")
        logger.logLevel = .critical
        let router = try await Router.start(try ConfigLoader.load(path: path), logger: logger)
        let run = Task { try await router.run() }
        let port = Int(router.boundAddresses[0].split(separator: ":").last!)!
        func embed() async throws -> String {
            try await offPool {
                let socket = try RawSocket(port: port)
                let body = #"{"model":"embed-test","input":"x"}"#
                socket.send("POST /v1/embeddings HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)")
                return socket.readAll().text
            }
        }
        let before = router.policyDigest
        #expect(try await embed().hasPrefix("HTTP/1.1 403"))
        try TempDirectory.write(path, config(models: "gpt-test, embed-test"), mode: 0o644)
        guard case .reloaded(let after) = await router.reload() else {
            Issue.record("reload refused")
            return
        }
        #expect(after != before && router.policyDigest == after)
        #expect(try await embed().hasPrefix("HTTP/1.1 200"))
        try TempDirectory.write(path, config(models: "gpt-test") + "\nsurprise: 1\n", mode: 0o644)
        guard case .refused(let why) = await router.reload() else {
            Issue.record("a bad file was accepted")
            return
        }
        #expect(why.contains("surprise"))
        #expect(router.policyDigest == after)
        #expect(try await embed().hasPrefix("HTTP/1.1 200"))
        router.initiateShutdown()
        _ = await run.result
        try await mock.shutdown()
        var digests: [String] = []
        try LogReader(directory: directory + "/receipts").forEach { entry in
            if entry.kind == "request", let digest = entry["policy_digest"]?.stringValue { digests.append(digest) }
            return true
        }
        #expect(digests == [before, after, after])
    }
}
