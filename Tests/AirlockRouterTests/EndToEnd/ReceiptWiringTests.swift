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
import Synchronization
import Testing

@testable import AirlockRouter

/// The router writing the real receipt log: what is recorded, in what order, that it verifies, and that the
/// router fails closed when it cannot record.
@Suite("Receipts from the router", .timeLimit(.minutes(1)))
struct ReceiptWiringTests {
    static func withLoggedHarness(
        configure: (inout AirlockConfig) -> Void = { _ in },
        _ body: (Harness, String, NoteVerifierKey) async throws -> Void
    ) async throws {
        let directory = TempDirectory.make()
        let signer = try CheckpointSigner.generate(name: "airlock.test/receipts")
        try signer.write(toPrefix: directory + "/signing")
        let harness = try await Harness.start(directory: directory, receipts: nil) { c, dir in
            c.receipts = ReceiptSettings(directory: dir + "/receipts", origin: "airlock.test/receipts", signingKeys: [dir + "/signing.key"])
            configure(&c)
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

    @Test("a flood past the rate limit is answered 429 and recorded per peer and second with a count: every request accounted for, the log bounded, and it verifies")
    func floodCounted() async throws {
        try await Self.withLoggedHarness(configure: { c in c.sandboxes[0].rate = RateSettings(rps: 0.01, burst: 3) }) { h, directory, key in
            let start = ContinuousClock.now
            var statuses: [Int] = []
            // Refusals of every kind: an unknown path, a wrong media type, and a body too large (refused by the
            // connection handler before the body is read).
            for i in 0..<60 {
                switch i % 3 {
                case 0:
                    statuses.append(try await h.request(.GET, "/v1/nope", headers: []).status)
                case 1:
                    statuses.append(try await h.request("/v1/chat/completions", body: "x", headers: [("content-type", "text/plain")]).status)
                default:
                    let socket = try RawSocket(port: h.routerPort)
                    socket.send("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 99999999\r\n\r\n")
                    let (text, _) = try await offPool { socket.readAll() }
                    statuses.append(Int(text.dropFirst("HTTP/1.1 ".count).prefix(3)) ?? 0)
                }
            }
            let elapsed = ContinuousClock.now - start
            #expect(statuses.prefix(3) == [404, 415, 413])
            #expect(statuses.dropFirst(3).allSatisfy { $0 == 429 }, "\(statuses)")
            await h.stop()
            let report = try Auditor(directory: directory, keys: [key]).verify()
            #expect(report.isValid, "\(report.summary)")
            let denials = try Self.entries(directory).filter { $0.kind == "request" && $0["decision"]?.stringValue == "deny" }
            // Every refusal is in the log, as its own record or inside a count.
            let accounted = denials.reduce(Int64(0)) { sum, record in
                if case .integer(let n)? = record["count"] { return sum + n }
                return sum + 1
            }
            #expect(accounted == 60)
            // At most two records per second past the limit (the first refusal of each second, then its count).
            let limited = denials.filter { $0["reason"]?.stringValue == "rate_limited" }
            #expect(limited.count <= 2 * (Int(elapsed.components.seconds) + 2), "\(limited.count) records in \(elapsed)")
            #expect(limited.count < 57)
            let batches = limited.filter { $0["count"] != nil }
            #expect(!batches.isEmpty)
            for batch in batches {
                #expect(batch["sandbox"]?.stringValue == Harness.sandbox)
                #expect(batch["status"] == .integer(429))
                #expect(batch["route"] == nil)
            }
        }
    }

    @Test("a record torn by a crash is cut at start, and the log itself records the cut before router_started")
    func tornTailRecorded() async throws {
        let directory = TempDirectory.make()
        let signer = try CheckpointSigner.generate(name: "airlock.test/receipts")
        try signer.write(toPrefix: directory + "/signing")
        func start() async throws -> Harness {
            try await Harness.start(directory: directory, receipts: nil) { c, dir in
                c.receipts = ReceiptSettings(directory: dir + "/receipts", origin: "airlock.test/receipts", signingKeys: [dir + "/signing.key"])
            }
        }
        let first = try await start()
        #expect(try await first.request("/v1/chat/completions", body: Harness.chat()).status == 200)
        await first.stop()
        // A crash mid-append leaves the start of a frame at the end of the segment.
        let logDirectory = directory + "/receipts"
        let segment = try #require(try FileManager.default.contentsOfDirectory(atPath: logDirectory).filter { $0.hasPrefix("receipts-") && $0.hasSuffix(".seg") }.sorted().last)
        let path = logDirectory + "/" + segment
        let bytes = try #require(FileManager.default.contents(atPath: path))
        FileManager.default.createFile(atPath: path, contents: bytes + bytes.prefix(40))
        let second = try await start()
        await second.stop()
        let records = try Self.entries(logDirectory)
        let reasons = records.suffix(2).map { $0["reason"]?.stringValue }
        #expect(reasons == ["torn_tail_cut", "router_started"], "\(records.map { $0["reason"]?.stringValue })")
        #expect(records.suffix(2).first?["torn_bytes"]?.integerValue == 40)
        #expect(try Auditor(directory: logDirectory, keys: [signer.verifierKey]).verify().isValid)
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

    @Test("a request to an unknown path of any length leaves a receipt: the route is `unknown`, the path only keyed-digested")
    func unknownPathsAreRecorded() async throws {
        try await Self.withLoggedHarness { h, directory, key in
            let long = "/v1/" + String(repeating: "x", count: 2000)
            #expect(try await h.request(.GET, long, headers: []).status == 404)
            #expect(try await h.request(long + "/chat", body: "{}").status == 404)
            #expect(try await h.request(.GET, "/v1/" + String(repeating: "y", count: 20_000), headers: []).status == 431)
            await h.stop()
            let report = try Auditor(directory: directory, keys: [key]).verify()
            #expect(report.isValid, "\(report.summary)")
            let requests = try Self.entries(directory).filter { $0.kind == "request" }
            #expect(requests.count == 3)
            for record in requests {
                #expect(record["route"]?.stringValue == "unknown")
                #expect(record["decision"]?.stringValue == "deny")
                #expect(record["request_hmac"] != nil)
            }
            #expect(requests.map { $0["reason"]?.stringValue } == ["unknown_route", "unknown_route", "headers_too_large"])
            // Different paths, different digests: an auditor holding the body key can tell which path was asked.
            if requests.count == 3 {
                #expect(requests[0]["request_hmac"] != requests[1]["request_hmac"])
            }
        }
    }

    @Test("a denial that cannot be recorded is answered 503 like an admitted request, never as if it were recorded")
    func unrecordedDenialFailsClosed() async throws {
        try await withHarness(receipts: BrokenSink()) { h in
            let forbidden = try await h.request("/v1/chat/completions", body: Harness.chat(model: "gpt-forbidden"))
            #expect(forbidden.status == 503)
            #expect(forbidden.body.contains("receipt_log_unavailable"))
            let unknown = try await h.request(.GET, "/v1/nothing", headers: [])
            #expect(unknown.status == 503)
            #expect(h.mock.requestCount == 0)
        }
    }

    /// Completion appends wait until the test opens the gate, as a slow disk would make them.
    final class GatedCompletions: ReceiptSink, Sendable {
        let state = Mutex((pending: false, open: false))
        func append(_ receipt: Receipt) async throws -> UInt64 {
            guard receipt.kind == .completion else { return 0 }
            state.withLock { $0.pending = true }
            let deadline = ContinuousClock.now + .seconds(60)
            while !state.withLock({ $0.open }) && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(10))
            }
            return 0
        }
        func bodyHasher() -> BodyHasher? { nil }
        var pending: Bool { state.withLock { $0.pending } }
        func open() { state.withLock { $0.open = true } }
    }

    /// What the agent's socket receives until the completion append has begun and `quiet` one-second reads in a
    /// row bring nothing (the socket's timeout is 1 s), or the router closes.
    static func readWhileGated(_ socket: RawSocket, _ gate: GatedCompletions, quiet: Int) -> [UInt8] {
        var text: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let deadline = ContinuousClock.now + .seconds(30)
        var quietAfterPending = 0
        while ContinuousClock.now < deadline && quietAfterPending < quiet {
            let n = buffer.withUnsafeMutableBytes { recv(socket.fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                text.append(contentsOf: buffer[0..<n])
            } else if n == 0 {
                break
            } else if gate.pending {
                quietAfterPending += 1
            }
        }
        return text
    }

    /// Everything until the router closes (true), or 30 s.
    static func readToClose(_ socket: RawSocket) -> ([UInt8], Bool) {
        var text: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let n = buffer.withUnsafeMutableBytes { recv(socket.fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { text.append(contentsOf: buffer[0..<n]) } else if n == 0 { return (text, true) }
        }
        return (text, false)
    }

    @Test("a whole answer with Content-Length (past the relay's flush threshold) is not complete for the agent before its receipt")
    func wholeAnswerWaitsForReceipt() async throws {
        // 200 KiB: the relay flushes past 64 KiB, so without a held byte the agent would have every byte its
        // Content-Length promises while the completion receipt is still pending.
        let content = String(repeating: "x", count: 200 << 10)
        let body = #"{"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"\#(content)"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#
        let whole = Array("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
        // The last 150 KiB in one send: one read burst past the flush threshold that ends the body.
        let upstream = ScriptedUpstream(pieces: { _ in [Array(whole.dropLast(150 << 10)), Array(whole.suffix(150 << 10))] })
        defer { upstream.stop() }
        let gate = GatedCompletions()
        try await withHarness(receipts: gate, configure: { c, _ in c.upstreams[0].baseURL = "http://127.0.0.1:\(upstream.port)" }) { h in
            let socket = try RawSocket(port: h.routerPort, timeoutSeconds: 1)
            // A small receive window, read late: the router's writes back up and the relay takes its
            // back-pressure path, which flushes at once, for the last piece too.
            var small: Int32 = 4096
            setsockopt(socket.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
            let request = Harness.chat()
            socket.send(
                "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: \(request.utf8.count)\r\n\r\n\(request)"
            )
            func bodyBytes(_ text: [UInt8]) -> Int {
                guard let end = text.firstRange(of: Array("\r\n\r\n".utf8)) else { return 0 }
                return text.count - end.upperBound
            }
            #expect(await eventually { gate.pending })
            let before = try await offPool { Self.readWhileGated(socket, gate, quiet: 2) }
            #expect(gate.pending)
            #expect(String(decoding: before.prefix(15), as: UTF8.self) == "HTTP/1.1 200 OK")
            #expect(String(decoding: before, as: UTF8.self).contains("content-length: \(body.utf8.count)\r\n"))
            #expect(bodyBytes(before) < body.utf8.count, "the whole body reached the agent before its receipt")
            #expect(bodyBytes(before) >= 64 << 10, "the answer is relayed as it comes, not held whole")
            gate.open()
            let (rest, _) = try await offPool { Self.readToClose(socket) }
            #expect(bodyBytes(before + rest) == body.utf8.count)
        }
    }

    @Test(
        "under sync durability the event that ends a stream for an SDK leaves only after the completion receipt is appended",
        arguments: [
            ("/v1/chat/completions", Harness.chat(stream: true), "data: [DONE]"),
            ("/v1/messages", Harness.anthropicMessage(stream: true), "event: message_stop"),
            ("/v1/responses", #"{"model":"gpt-test","input":"a b c","stream":true}"#, "event: response.completed"),
        ]
    )
    func streamEndWaitsForReceipt(path: String, body: String, final: String) async throws {
        let gate = GatedCompletions()
        try await withHarness(receipts: gate) { h in
            // Each event in its own read, as a real model streams: a relay that flushes each read would pass the
            // final event on the moment it arrives.
            h.mock.addFault(MockFault(count: 1, chunkDelayMs: 30))
            let socket = try RawSocket(port: h.routerPort, timeoutSeconds: 1)
            socket.send(
                "POST \(path) HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nanthropic-version: 2023-06-01\r\nconnection: close\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
            )
            // Read while the router is appending the completion receipt (the upstream's stream has ended).
            let before = String(decoding: try await offPool { Self.readWhileGated(socket, gate, quiet: 3) }, as: UTF8.self)
            #expect(gate.pending)
            #expect(before.hasPrefix("HTTP/1.1 200"))
            #expect(before.contains("data: "))
            #expect(!before.contains(final), "the stream's end reached the agent before its receipt: \(before)")
            gate.open()
            let (afterBytes, closed) = try await offPool { Self.readToClose(socket) }
            let after = String(decoding: afterBytes, as: UTF8.self)
            #expect(after.contains(final))
            #expect(after.hasSuffix("0\r\n\r\n"))
            #expect(closed)
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
    @Test("a reload never resets a limit: spent tokens stay spent, a changed limit keeps what was left, requests in flight count")
    func reloadKeepsLimits() async throws {
        // One token every 100 s: nothing refills during the test, however slow the machine.
        func config(_ file: RouterFile, burst: Int, tokensPerDay: Int) -> String {
            file.config(
                tenant: "{name: team, tokens_per_day: \(tokensPerDay)}",
                sandboxExtra: "max_concurrent: 1, rate: {rps: 0.01, burst: \(burst)}"
            )
        }
        try await FileRouter.with(config: { config($0, burst: 4, tokensPerDay: 1_000_000) }) { r in
            // A request in flight under the old configuration holds the only slot under the new one. The delay is
            // long enough for the reload and the second request even on a loaded machine.
            r.mock.addFault(MockFault(count: 1, delayBeforeHeadersMs: 12_000))
            async let slow = r.chat(timeoutSeconds: 30)
            #expect(await eventually(seconds: 10) { r.mock.requestCount == 1 })
            try await r.reload(config(r.file, burst: 4, tokensPerDay: 2_000_000))
            let busy = try await r.chat()
            #expect(busy.hasPrefix("HTTP/1.1 503"), "\(busy)")
            #expect(busy.contains("sandbox_busy"))
            #expect(try await slow.hasPrefix("HTTP/1.1 200"))
            // Its slot is released just after its last byte reached the agent, which may read it first.
            #expect(await eventually(seconds: 5) { r.router.runtimeForTesting.limiters.inFlightTotal == 0 })

            // Spend what is left of the burst.
            var answered = 0
            var last = ""
            while answered < 5 {
                last = try await r.chat()
                guard last.hasPrefix("HTTP/1.1 200") else { break }
                answered += 1
            }
            #expect(answered <= 3)
            #expect(last.hasPrefix("HTTP/1.1 429"), "\(last)")
            // Unchanged rate settings: the same bucket, still empty.
            try await r.reload(config(r.file, burst: 4, tokensPerDay: 3_000_000))
            #expect(try await r.chat().hasPrefix("HTTP/1.1 429"))
            // A larger burst keeps the tokens that were left (none), instead of starting full.
            try await r.reload(config(r.file, burst: 8, tokensPerDay: 3_000_000))
            #expect(try await r.chat().hasPrefix("HTTP/1.1 429"))
        }
    }

    @Test("a reload keeps an open circuit breaker open, unless the upstream's address or breaker settings changed")
    func reloadKeepsBreakers() async throws {
        func config(_ file: RouterFile, cooldown: String, tokensPerDay: Int) -> String {
            file.config(
                tenant: "{name: team, tokens_per_day: \(tokensPerDay)}",
                upstreamExtra: "breaker: {failures: 2, window: 60s, cooldown: \(cooldown)}",
                extra: "retry: {attempts: 1}"
            )
        }
        try await FileRouter.with(config: { config($0, cooldown: "60s", tokensPerDay: 1_000_000) }) { r in
            r.mock.addFault(MockFault(count: 2, status: 500))
            #expect(try await r.chat().hasPrefix("HTTP/1.1 500"))
            #expect(try await r.chat().hasPrefix("HTTP/1.1 500"))
            #expect(try await r.chat().contains("upstream_unavailable"))
            // Open across a reload that leaves the upstream alone: no call reaches it.
            try await r.reload(config(r.file, cooldown: "60s", tokensPerDay: 2_000_000))
            let refused = try await r.chat()
            #expect(refused.hasPrefix("HTTP/1.1 503") && refused.contains("upstream_unavailable"), "\(refused)")
            #expect(r.mock.requestCount == 2)
            // New breaker settings are a new breaker: closed, and the upstream answers again.
            try await r.reload(config(r.file, cooldown: "30s", tokensPerDay: 2_000_000))
            #expect(try await r.chat().hasPrefix("HTTP/1.1 200"))
            #expect(r.mock.requestCount == 3)
        }
    }

    @Test("a sandbox removed by a reload: the next request on a kept-alive connection is refused and the connection closed")
    func reloadRemovesSandbox() async throws {
        try await FileRouter.with(config: { $0.config(tenant: "{name: team}") }) { r in
            let port = r.port
            let socket = try RawSocket(port: port, timeoutSeconds: 20)
            socket.send("GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n")
            let first = try await offPool { socket.readSome() }
            #expect(first.hasPrefix("HTTP/1.1 200"))
            // The operator renames the sandbox; this connection was admitted as the old one.
            try await r.reload(r.file.config(tenant: "{name: team}").replacingOccurrences(of: "{name: agent,", with: "{name: renamed,"))
            socket.send("GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n")
            let (text, closed) = try await offPool { socket.readAll() }
            #expect(text.hasPrefix("HTTP/1.1 403"), "\(text)")
            #expect(text.contains("unknown_sandbox"))
            #expect(closed)
            // The router lives on; a new connection is identified afresh, as the renamed sandbox.
            #expect(try await r.chat().hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test("a provider key rotated in place takes effect at the next reload")
    func reloadRereadsKeys() async throws {
        try await FileRouter.with(config: { $0.config(tenant: "{name: team}") }) { r in
            #expect(try await r.chat().hasPrefix("HTTP/1.1 200"))
            // The upstream accepts only its own key: a wrong one in the same file is refused once reloaded...
            try TempDirectory.write(r.file.directory + "/provider.key", "sk-not-the-key", mode: 0o600)
            try await r.reload(r.file.config(tenant: "{name: team, tokens_per_day: 1000000}"))
            #expect(try await r.chat().hasPrefix("HTTP/1.1 401"))
            // ...and the right one, written back in place, works again after the next.
            try TempDirectory.write(r.file.directory + "/provider.key", r.mockKey, mode: 0o600)
            try await r.reload(r.file.config(tenant: "{name: team, tokens_per_day: 2000000}"))
            #expect(try await r.chat().hasPrefix("HTTP/1.1 200"))
        }
    }
}

/// The configuration file of a ``FileRouter``: one sandbox for this UID on the mock upstream, receipts off.
struct RouterFile: Sendable {
    let directory: String
    let mockPort: Int

    /// The file's text, with the extras spliced in.
    func config(tenant: String, sandboxExtra: String = "", upstreamExtra: String = "", extra: String = "") -> String {
        let sandbox = "{name: agent, tenant: team, uids: [\(getuid())], models: [gpt-test]\(sandboxExtra.isEmpty ? "" : ", " + sandboxExtra)}"
        let upstream = "{name: mock, kind: openai-compatible, base_url: \"http://127.0.0.1:\(mockPort)\", credential: {file: \(directory)/provider.key}\(upstreamExtra.isEmpty ? "" : ", " + upstreamExtra)}"
        return """
            version: 1
            router:
              listeners: [{tcp: "127.0.0.1:0"}]
              state_directory: \(directory)/state
              allow_root: true
            tenants: [\(tenant)]
            sandboxes: [\(sandbox)]
            upstreams: [\(upstream)]
            models: [{name: gpt-test, api: openai, targets: [{upstream: mock}]}]
            receipts: {enabled: false}
            \(extra)
            """
    }
}

/// A router started from a configuration file, as `airlock router` runs, so reloads re-read the file.
struct FileRouter: Sendable {
    let file: RouterFile
    let path: String
    let mock: MockUpstreamServer
    /// The key the mock upstream requires.
    let mockKey: String
    let router: Router
    let port: Int

    static func with(config: (RouterFile) -> String, _ body: (FileRouter) async throws -> Void) async throws {
        let directory = TempDirectory.make()
        let key = "sk-file-" + RequestIDs.make()
        let mock = try await MockUpstreamServer.start(MockUpstreamConfiguration(requiredKey: key))
        try TempDirectory.write(directory + "/provider.key", key, mode: 0o600)
        let path = directory + "/airlock.yaml"
        let file = RouterFile(directory: directory, mockPort: mock.port)
        try TempDirectory.write(path, config(file), mode: 0o644)
        var logger = Logger(label: "test.file-router")
        logger.logLevel = .critical
        let router: Router
        do {
            router = try await Router.start(try ConfigLoader.load(path: path), logger: logger)
        } catch {
            try? await mock.shutdown()
            throw error
        }
        let run = Task { try await router.run() }
        let port = Int(router.boundAddresses[0].split(separator: ":").last!)!
        let r = FileRouter(file: file, path: path, mock: mock, mockKey: key, router: router, port: port)
        do {
            try await body(r)
        } catch {
            router.initiateShutdown()
            _ = await run.result
            try? await mock.shutdown()
            throw error
        }
        router.initiateShutdown()
        _ = await run.result
        try await mock.shutdown()
    }

    /// One chat completion on its own connection; the raw response text.
    func chat(timeoutSeconds: Int = 10) async throws -> String {
        let port = self.port
        return try await offPool {
            let socket = try RawSocket(port: port, timeoutSeconds: timeoutSeconds)
            let body = #"{"model":"gpt-test","messages":[{"role":"user","content":"x"}]}"#
            socket.send("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)")
            return socket.readAll().text
        }
    }

    func reload(_ text: String) async throws {
        try TempDirectory.write(path, text, mode: 0o644)
        let result = await router.reload()
        guard case .reloaded = result else {
            Issue.record("reload refused: \(result)")
            return
        }
    }
}
