#if canImport(Glibc)
import NIOCore
import NIOHTTP1
import Glibc
#endif
import AirlockPolicy
import AirlockTestSupport
import Testing

@testable import AirlockRouter

@Suite("Usage reading")
struct UsageReaderTests {
    func read(_ endpoint: Endpoint, streaming: Bool, _ text: String, split: Int) -> Usage? {
        var reader = UsageReader(endpoint: endpoint, streaming: streaming)
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            let end = min(bytes.count, i + split)
            bytes[i..<end].withUnsafeBytes { reader.consume($0) }
            i = end
        }
        reader.finish()
        return reader.usage
    }

    @Test("reads usage from whole bodies of each API", arguments: [
        (Endpoint.chatCompletions, #"{"id":"x","usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}"#, Usage(input: 11, output: 7)),
        (.embeddings, #"{"data":[],"usage":{"prompt_tokens":5,"total_tokens":5}}"#, Usage(input: 5, output: 0)),
        (.responses, #"{"output":[],"usage":{"input_tokens":3,"output_tokens":9}}"#, Usage(input: 3, output: 9)),
        (.messages, #"{"content":[],"usage":{"input_tokens":4,"output_tokens":2,"cache_read_input_tokens":6}}"#, Usage(input: 10, output: 2)),
    ])
    func whole(endpoint: Endpoint, body: String, expected: Usage) {
        for split in [1, 3, 1000] {
            #expect(read(endpoint, streaming: false, body, split: split) == expected)
        }
    }

    @Test("reads usage from SSE streams split at every byte boundary")
    func streams() {
        let chat = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":6}}\n\ndata: [DONE]\n\n"
        let anthropic = "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\r\n\r\nevent: content_block_delta\r\ndata: {\"type\":\"content_block_delta\"}\r\n\r\nevent: message_delta\r\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\r\n\r\n"
        let responses = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"usage\":null}}\n\nevent: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":2,\"output_tokens\":8}}}\n\n"
        for split in [1, 2, 7, 64, 10_000] {
            #expect(read(.chatCompletions, streaming: true, chat, split: split) == Usage(input: 3, output: 6))
            #expect(read(.messages, streaming: true, anthropic, split: split) == Usage(input: 12, output: 15))
            #expect(read(.responses, streaming: true, responses, split: split) == Usage(input: 2, output: 8))
        }
    }

    @Test("usage beyond any real request is reported as invalid, never summed into a trap", arguments: [
        (Endpoint.chatCompletions, false, #"{"usage":{"prompt_tokens":9223372036854775807,"completion_tokens":1}}"#),
        (.chatCompletions, true, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9223372036854775807,\"completion_tokens\":9223372036854775807}}\n\n"),
        (.messages, false, #"{"usage":{"input_tokens":9223372036854775000,"output_tokens":1,"cache_read_input_tokens":9223372036854775000}}"#),
        (.messages, true, "data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":4611686018427387904,\"cache_creation_input_tokens\":4611686018427387904}}}\n\n"),
        (.chatCompletions, false, #"{"usage":{"prompt_tokens":-5,"completion_tokens":1}}"#),
        (.responses, false, #"{"usage":{"input_tokens":100000001,"output_tokens":0}}"#),
    ])
    func outOfBounds(endpoint: Endpoint, streaming: Bool, body: String) {
        var reader = UsageReader(endpoint: endpoint, streaming: streaming)
        Array(body.utf8).withUnsafeBytes { reader.consume($0) }
        reader.finish()
        #expect(reader.invalid)
        // Charged as the most one request can cost, so a lying upstream cannot make a request free.
        #expect(reader.usage == Usage(input: Usage.maxPerRequest, output: 0))
    }

    @Test("a stream without usage reports none rather than zero")
    func missing() {
        #expect(read(.chatCompletions, streaming: true, "data: {\"choices\":[]}\n\ndata: [DONE]\n\n", split: 5) == nil)
        #expect(read(.chatCompletions, streaming: false, "{\"choices\":[]}", split: 5) == nil)
    }
}

@Suite("Budget ledger")
struct BudgetLedgerTests {
    static func tempDir() -> String {
        var template = Array("/tmp/airlock-ledger-XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        return path
    }

    // 2026-11-21T12:00:00Z
    let noon: Int64 = 1_795_262_400

    @Test("refuses a tenant once its daily budget is spent, until the next UTC day")
    func daily() throws {
        let dir = Self.tempDir()
        let ledger = try BudgetLedger(directory: dir, tenants: [TenantPolicy(name: "t", tokensPerDay: 100)], now: noon)
        #expect(ledger.check(tenant: "t", now: noon) == .allowed)
        try ledger.charge(tenant: "t", tokens: 60, now: noon)
        #expect(ledger.check(tenant: "t", now: noon) == .allowed)
        try ledger.charge(tenant: "t", tokens: 40, now: noon)
        #expect(ledger.check(tenant: "t", now: noon) == .exceeded(.day, retryAfterSeconds: 43_200))
        #expect(ledger.check(tenant: "t", now: noon + 43_200) == .allowed)
        #expect(ledger.check(tenant: "other", now: noon) == .allowed)
    }

    @Test("monthly budgets sum the days of the UTC month")
    func monthly() throws {
        let dir = Self.tempDir()
        let ledger = try BudgetLedger(directory: dir, tenants: [TenantPolicy(name: "t", tokensPerMonth: 100)], now: noon)
        try ledger.charge(tenant: "t", tokens: 50, now: noon - 5 * 86_400)
        try ledger.charge(tenant: "t", tokens: 50, now: noon)
        guard case .exceeded(.month, let retry) = ledger.check(tenant: "t", now: noon) else {
            Issue.record("expected the monthly budget to be spent")
            return
        }
        // 2026-12-01T00:00:00Z is 9.5 days after noon on the 21st.
        #expect(retry == 9 * 86_400 + 43_200)
        #expect(ledger.remaining(tenant: "t", now: noon).month == 0)
    }

    @Test("charges and a replayed journal saturate instead of trapping; the router starts and the tenant is spent")
    func saturation() throws {
        let dir = Self.tempDir()
        let path = dir + "/budget.journal"
        // What an earlier router wrote for two answers claiming 2^62 prompt tokens each.
        let line = "{\"day\":\"2026-11-21\",\"tenant\":\"t\",\"tokens\":4611686018427387904}\n"
        try TempDirectory.write(path, line + line + line, mode: 0o600)
        let ledger = try BudgetLedger(directory: dir, tenants: [TenantPolicy(name: "t", tokensPerDay: 100, tokensPerMonth: 1000)], now: noon)
        #expect(ledger.check(tenant: "t", now: noon) != .allowed)
        try ledger.charge(tenant: "t", tokens: Int.max, now: noon)
        try ledger.charge(tenant: "t", tokens: Int.max, now: noon - 86_400)
        #expect(ledger.remaining(tenant: "t", now: noon).day == 0)
        #expect(ledger.remaining(tenant: "t", now: noon).month == 0)
        let reopened = try BudgetLedger(directory: dir, tenants: [TenantPolicy(name: "t", tokensPerMonth: 1000)], now: noon)
        #expect(reopened.remaining(tenant: "t", now: noon).month == 0)
        // A number beyond Int64 is a corrupt line, named by its number.
        try TempDirectory.write(path, line + "{\"day\":\"2026-11-21\",\"tenant\":\"t\",\"tokens\":99999999999999999999}\n", mode: 0o600)
        #expect {
            try BudgetLedger(directory: dir, tenants: [], now: noon)
        } throws: { error in
            "\(error)".contains("budget.journal:2:")
        }
    }

    @Test("usage survives reopening; a torn last line is ignored; a corrupt middle line is an error")
    func persistence() throws {
        let dir = Self.tempDir()
        do {
            let ledger = try BudgetLedger(directory: dir, tenants: [TenantPolicy(name: "t", tokensPerDay: 100)], now: noon)
            try ledger.charge(tenant: "t", tokens: 99, now: noon)
        }
        let path = dir + "/budget.journal"
        let fd = open(path, O_WRONLY | O_APPEND)
        let torn = Array("{\"day\":\"2026-11-21\",\"ten".utf8)
        _ = torn.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        let reopened = try BudgetLedger(directory: dir, tenants: [TenantPolicy(name: "t", tokensPerDay: 100)], now: noon)
        #expect(reopened.remaining(tenant: "t", now: noon).day == 1)
        try reopened.charge(tenant: "t", tokens: 1, now: noon)
        #expect(reopened.check(tenant: "t", now: noon) != .allowed)

        let bad = open(path, O_WRONLY | O_TRUNC)
        let lines = Array("garbage\n{\"day\":\"2026-11-21\",\"tenant\":\"t\",\"tokens\":1}\n".utf8)
        _ = lines.withUnsafeBytes { write(bad, $0.baseAddress, $0.count) }
        close(bad)
        #expect(throws: BudgetLedgerError.self) {
            try BudgetLedger(directory: dir, tenants: [], now: noon)
        }
    }

    @Test("reservations hold against day and month at once; settlement replaces the hold, once")
    func reserveAndSettle() throws {
        let dir = Self.tempDir()
        let ledger = try BudgetLedger(directory: dir, tenants: [TenantPolicy(name: "t", tokensPerDay: 100, tokensPerMonth: 150)], now: noon)
        guard case .reserved(let first) = try ledger.reserve(tenant: "t", tokens: 60, now: noon) else {
            Issue.record("60 of 100 should fit")
            return
        }
        #expect(ledger.remaining(tenant: "t", now: noon).day == 40)
        #expect(try ledger.reserve(tenant: "t", tokens: 41, now: noon) == .exceeded(.day, retryAfterSeconds: 43_200))
        try ledger.settle(first, tokens: 10, now: noon)
        try ledger.settle(first, tokens: 10, now: noon)
        #expect(ledger.remaining(tenant: "t", now: noon).day == 90)
        // Yesterday's 100 leave 40 of the month: a reservation that fits the day but not the month is refused.
        try ledger.charge(tenant: "t", tokens: 100, now: noon - 86_400)
        guard case .exceeded(.month, _) = try ledger.reserve(tenant: "t", tokens: 41, now: noon) else {
            Issue.record("41 should not fit the 40 left of the month")
            return
        }
        // A tenant without budgets holds nothing and is charged what it is settled to.
        guard case .reserved(let free) = try ledger.reserve(tenant: "free", tokens: 1_000, now: noon) else {
            Issue.record("a tenant without budgets is never refused")
            return
        }
        #expect(!free.holds)
        try ledger.settle(free, tokens: 7, now: noon)
        let journal = try #require(try DurableFile.read(dir + "/budget.journal")).split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) }
        #expect(journal.count == 4)
        #expect(journal[0].hasPrefix(#"{"reserve":""#) && journal[0].hasSuffix(#"","day":"2026-11-21","tenant":"t","tokens":60}"#))
        #expect(journal[1].hasPrefix(#"{"settle":""#) && journal[1].hasSuffix(#"","day":"2026-11-21","tenant":"t","tokens":10}"#))
        #expect(journal[3] == #"{"day":"2026-11-21","tenant":"free","tokens":7}"#)
    }

    @Test("replay: a reservation counts its settlement once, a repeated settlement nothing, an open one in full")
    func replaySettlesOnce() throws {
        let dir = Self.tempDir()
        let path = dir + "/budget.journal"
        let journal = """
            {"reserve":"r1","day":"2026-11-21","tenant":"t","tokens":500}
            {"settle":"r1","day":"2026-11-21","tenant":"t","tokens":30}
            {"settle":"r1","day":"2026-11-21","tenant":"t","tokens":30}
            {"reserve":"r2","day":"2026-11-21","tenant":"t","tokens":200}
            {"day":"2026-11-21","tenant":"t","tokens":7}

            """
        try TempDirectory.write(path, journal, mode: 0o600)
        let tenants = [TenantPolicy(name: "t", tokensPerDay: 1000)]
        let ledger = try BudgetLedger(directory: dir, tenants: tenants, now: noon)
        // 30 settled, 200 left open by a router that died (the request may have generated), 7 charged.
        #expect(ledger.remaining(tenant: "t", now: noon).day == 763)
        let reopened = try BudgetLedger(directory: dir, tenants: tenants, now: noon)
        #expect(reopened.remaining(tenant: "t", now: noon).day == 763)
    }

    @Test("UTC calendar arithmetic", arguments: [
        (Int64(0), "1970-01-01"), (951_782_400, "2000-02-29"), (1_795_262_400, "2026-11-21"), (4_102_444_799, "2099-12-31"),
    ])
    func calendar(seconds: Int64, day: String) {
        #expect(UTCCalendar.day(seconds) == day)
    }
}

@Suite("Request head checks")
struct HeadCheckTests {
    let limits = HTTPConnectionHandler.Limits(maxBodyBytes: 1000, maxHeaderBytes: 2048, headerTimeout: .seconds(1), idleTimeout: .seconds(1), maxConnectionsPerPeer: 8)

    @Test("refuses smuggling shapes, oversized heads and declared bodies", arguments: [
        ([("content-length", "5"), ("transfer-encoding", "chunked")], 400, "ambiguous_framing"),
        ([("content-length", "5"), ("content-length", "5")], 400, "ambiguous_framing"),
        ([("transfer-encoding", "gzip, chunked")], 400, "ambiguous_framing"),
        ([("transfer-encoding", "chunked"), ("transfer-encoding", "chunked")], 400, "ambiguous_framing"),
        ([("content-length", "-1")], 400, "ambiguous_framing"),
        ([("content-length", "1001")], 413, "body_too_large"),
        ([("x-pad", String(repeating: "a", count: 3000))], 431, "headers_too_large"),
    ])
    func refused(headers: [(String, String)], status: Int, reason: String) {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/chat/completions")
        for (n, v) in headers { head.headers.add(name: n, value: v) }
        let refusal = HeadChecks.check(head, limits: limits)
        #expect(refusal?.status == status)
        #expect(refusal?.reason == reason)
    }

    @Test("accepts ordinary heads")
    func accepted() {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/chat/completions")
        head.headers.add(name: "content-length", value: "1000")
        #expect(HeadChecks.check(head, limits: limits) == nil)
    }
}

@Suite("Header policy")
struct HeaderPolicyTests {
    @Test("never forwards agent credentials or account selectors upstream")
    func requestHeaders() {
        var inbound = HTTPHeaders()
        for name in ["Authorization", "api-key", "X-Api-Key", "Cookie", "OpenAI-Organization", "OpenAI-Project", "Proxy-Authorization", "X-Forwarded-For", "Host"] {
            inbound.add(name: name, value: "agent-value")
        }
        inbound.add(name: "Content-Type", value: "application/json")
        inbound.add(name: "anthropic-version", value: "2023-06-01")
        let out = HeaderPolicy.forwardRequest(inbound)
        #expect(out.map(\.name).sorted() == ["anthropic-version", "content-type"])
    }

    @Test("passes only allowlisted response headers", arguments: [
        ("content-type", true), ("x-ratelimit-remaining-requests", true), ("anthropic-ratelimit-tokens-limit", true),
        ("set-cookie", false), ("www-authenticate", false), ("authorization", false), ("openai-organization", false),
        ("x-api-key", false), ("server", false),
    ])
    func responseHeaders(name: String, allowed: Bool) {
        #expect(HeaderPolicy.isResponseAllowed(name) == allowed)
    }
}

@Suite("Key scrubber")
struct KeyScrubberTests {
    static let key = "sk-proj-AbCdEfGh1234567890wxyz"

    func scrubbed(_ text: String) -> String {
        var bytes = Array(text.utf8)
        KeyScrubber(secret: Self.key)!.scrub(&bytes)
        #expect(bytes.count == text.utf8.count)
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test("the key, whole or masked the way providers echo it, or a long piece of it, never survives", arguments: [
        "Incorrect API key provided: sk-proj-**********************wxyz. You can find your API key at https://x.",
        "Incorrect API key provided: sk-p*******wxyz.",
        "invalid x-api-key: sk-proj-AbCdEfGh1234567890wxyz",
        #"{"key":"sk-proj-AbCdEfGh1234567890wxyz"}"#,
        "token=AbCdEfGh12345678;",
        "prefixsk-proj-AbCdEfGh1234567890wxyzsuffix",
    ])
    func scrubs(text: String) {
        let out = scrubbed(text)
        #expect(!out.contains(Self.key))
        #expect(!out.contains("AbCdEfGh"))
        #expect(!out.contains("sk-p") || !out.contains("wxyz"), "\(out)")
        #expect(!out.contains("**wxyz") && !out.contains("sk-proj-**"))
    }

    @Test("ordinary error text is left as it is")
    func leavesText() {
        let text = #"{"error":{"message":"Incorrect API key provided. See https://platform.openai.com/account/api-keys.","type":"invalid_request_error","code":"invalid_api_key"}}"#
        #expect(scrubbed(text) == text)
    }
}

@Suite("Stream event filter")
struct StreamEventFilterTests {
    /// Feeds `text` in pieces of `split` bytes; returns what went out before the end, at the end, and what was held.
    func run(_ endpoint: Endpoint, drop: Bool, _ text: String, split: Int) -> (out: String, held: String) {
        var filter = StreamEventFilter(endpoint: endpoint, dropInjectedUsage: drop)
        var out: [UInt8] = []
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            let end = min(bytes.count, i + split)
            bytes[i..<end].withUnsafeBytes { filter.feed($0, into: &out) }
            i = end
        }
        filter.finish(into: &out)
        return (String(decoding: out, as: UTF8.self), String(decoding: filter.held, as: UTF8.self))
    }

    static let chat = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}],\"usage\":null}\n\n"
        + "data: {\"usage\":null,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\r\n\r\n"
        + "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n"
        + "data: [DONE]\n\n"

    @Test("at every split, the usage chunk and the null usage members go, everything else passes byte for byte, [DONE] is held")
    func chatAtEverySplit() {
        let expected = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n"
            + "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\r\n\r\n"
        for split in [1, 2, 3, 7, 64, 10_000] {
            let (out, held) = run(.chatCompletions, drop: true, Self.chat, split: split)
            #expect(out == expected, "split \(split)")
            #expect(held == "data: [DONE]\n\n", "split \(split)")
            let (kept, _) = run(.chatCompletions, drop: false, Self.chat, split: split)
            #expect(kept + "data: [DONE]\n\n" == Self.chat, "split \(split)")
        }
    }

    @Test("Anthropic's message_stop and the Responses API's completion are held; a last event without its blank line is too")
    func finalEvents() {
        let anthropic = "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":5}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        let (out, held) = run(.messages, drop: false, anthropic, split: 5)
        #expect(out.hasPrefix("event: message_delta") && !out.contains("message_stop"))
        #expect(held == "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
        let responses = "event: response.output_text.delta\ndata: {}\n\nevent: response.completed\ndata: {}"
        let (rOut, rHeld) = run(.responses, drop: false, responses, split: 3)
        #expect(rOut == "event: response.output_text.delta\ndata: {}\n\n")
        #expect(rHeld == "event: response.completed\ndata: {}")
    }

    @Test("an upstream that keeps sending after the final event cannot grow what the router holds past one event's bound")
    func heldIsBounded() {
        var filter = StreamEventFilter(endpoint: .chatCompletions, dropInjectedUsage: false)
        var out: [UInt8] = []
        Array("data: [DONE]\n\n".utf8).withUnsafeBytes { filter.feed($0, into: &out) }
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 64 << 10)
        for _ in 0..<(64 << 20) / chunk.count {  // 64 MiB after [DONE]
            chunk.withUnsafeBytes { filter.feed($0, into: &out) }
        }
        filter.finish(into: &out)
        #expect(filter.held.count <= StreamEventFilter.maxEvent)
        #expect(filter.held.starts(with: Array("data: [DONE]\n\n".utf8)))
        #expect(out.isEmpty)
    }
}

@Suite("SSE data stream")
struct SSEDataStreamTests {
    func parts(_ text: String, split: Int) -> [String] {
        var stream = SSEDataStream()
        var out: [String] = []
        var current = ""
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            let end = min(bytes.count, i + split)
            bytes[i..<end].withUnsafeBytes {
                stream.feed($0) { part in
                    switch part {
                    case .data(let chunk): current += String(decoding: chunk, as: UTF8.self)
                    case .end:
                        out.append(current)
                        current = ""
                    }
                }
            }
            i = end
        }
        return out
    }

    @Test("each event's data, lines joined, fields and comments skipped, at every split")
    func events() {
        let text = ": comment\nevent: a\ndata: one\ndata:two\nid: 7\n\nretry: 5\n\ndata\n\ndatax: no\ndata:  three\r\n\r\n"
        for split in [1, 2, 3, 5, 100] {
            #expect(parts(text, split: split) == ["one\ntwo", "", " three\r"])
        }
    }

    @Test("an event of 64 MiB passes in constant memory and the events after it are read")
    func hugeEvent() {
        var stream = SSEDataStream()
        var bytes = 0
        var ends = 0
        let line = Array("data: ".utf8) + [UInt8](repeating: UInt8(ascii: "y"), count: 1 << 20) + [0x0A]
        for _ in 0..<64 {
            line.withUnsafeBytes {
                stream.feed($0) { part in
                    if case .data(let chunk) = part { bytes += chunk.count } else { ends += 1 }
                }
            }
        }
        Array("\n".utf8).withUnsafeBytes { stream.feed($0) { if case .end = $0 { ends += 1 } } }
        #expect(bytes == 64 << 20 + 63)
        #expect(ends == 1)
        #expect(MemoryLayout<SSEDataStream>.size < 64)
    }
}

@Suite("Usage from responses of any size")
struct LargeUsageTests {
    static func read(_ endpoint: Endpoint, streaming: Bool, _ parts: [String]) -> UsageReader {
        var reader = UsageReader(endpoint: endpoint, streaming: streaming)
        for part in parts { Array(part.utf8).withUnsafeBytes { reader.consume($0) } }
        reader.finish()
        return reader
    }

    /// 15 MiB of choices (as `"n":3,"logprobs":true,"top_logprobs":20` produce), then the usage.
    static let bulk = String(repeating: #"{"token":"x","logprob":-0.1,"bytes":[120]},"#, count: 15 << 20 / 44)

    @Test("a whole body of 15 MiB: the usage after the choices is read (it was charged 0 past 8 MiB)")
    func wholeBodyTail() {
        let reader = Self.read(.chatCompletions, streaming: false, [
            #"{"id":"c","choices":[{"index":0,"logprobs":{"content":["#, Self.bulk, #"{}]}}],"#,
            #""usage":{"prompt_tokens":12,"completion_tokens":12296}}"#,
        ])
        #expect(reader.usage == Usage(input: 12, output: 12_296))
    }

    @Test("the Responses API's final event carrying a 15 MiB response: its usage is read")
    func hugeFinalEvent() {
        let reader = Self.read(.responses, streaming: true, [
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"output\":[",
            Self.bulk, "{}],\"tools\":[],\"usage\":{\"input_tokens\":5,\"output_tokens\":7000}}}\n\n",
        ])
        #expect(reader.usage == Usage(input: 5, output: 7_000))
    }

    @Test("usage is found by member, not by text: in strings, nested objects and escaped names", arguments: [
        (#"{"choices":[{"message":{"content":"\"usage\":{\"prompt_tokens\":1}","usage":{"prompt_tokens":2}}}],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#, Usage(input: 3, output: 4)),
        (#"{"\u0075sage":{"prompt_tokens":5,"completion_tokens":6}}"#, Usage(input: 5, output: 6)),
        (#"{"usage" : {"prompt_tokens":7} , "x":[{"usage":{"prompt_tokens":8}}]}"#, Usage(input: 7, output: 0)),
        (#"[{"usage":{"prompt_tokens":1}}]"#, nil),
        (#"{"usage":null}"#, nil),
        // Names too long to be on the path, or only sharing its start, are passed over whatever the split.
        ("{\"" + String(repeating: "n", count: 300) + #"usage":{"prompt_tokens":1},"usag":{"prompt_tokens":2},"usages":{},"usage":{"prompt_tokens":9}}"#, Usage(input: 9, output: 0)),
    ])
    func byMember(body: String, expected: Usage?) {
        for split in [1, 7, 4096] {
            #expect(UsageReaderTests().read(.chatCompletions, streaming: false, body, split: split) == expected, "\(body) split \(split)")
        }
    }

    @Test("a body that names usage twice, does not end, or ends twice has no usage to read", arguments: [
        #"{"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2}}"#,
        #"{"\u0075sage":{"prompt_tokens":1},"usage":{"prompt_tokens":2}}"#,
        #"{"usage":{"prompt_tokens":1}"#,
        #"{"usage":{"prompt_tokens":1}}}"#,
        #"{"usage":{"prompt_tokens":1}} {}"#,
        #"{"usage":{"prompt_tokens":1},"x":"open}"#,
    ])
    func ambiguous(body: String) {
        #expect(Self.read(.chatCompletions, streaming: false, [body]).usage == nil)
    }

    @Test("a usage value past 64 KiB is no reading")
    func oversizedValue() {
        let reader = Self.read(.chatCompletions, streaming: false, [
            #"{"usage":{"prompt_tokens":1,"pad":""#, String(repeating: "p", count: 70_000), #""}}"#,
        ])
        #expect(reader.usage == nil)
    }
}

@Suite("Event stream line endings")
struct SSELineEndingsTests {
    static func normalized(_ pieces: [String]) -> String {
        var endings = SSELineEndings()
        var out = ""
        for piece in pieces {
            let buffer = ByteBuffer(string: piece)
            let result = endings.normalize(buffer) ?? buffer
            out += String(buffer: result)
        }
        return out
    }

    @Test("CR, LF and CRLF each become one LF, also when a CRLF is split between two reads; LF-only input is not copied")
    func lineEnds() {
        #expect(Self.normalized(["a\rb\r\nc\nd\r\r"]) == "a\nb\nc\nd\n\n")
        #expect(Self.normalized(["data: x\r", "\ndata: y\r", "\r\n"]) == "data: x\ndata: y\n\n")
        #expect(Self.normalized(["\r", "\r", "\n", "\n"]) == "\n\n\n")
        var endings = SSELineEndings()
        #expect(endings.normalize(ByteBuffer(string: "data: x\n\n")) == nil)
    }
}
