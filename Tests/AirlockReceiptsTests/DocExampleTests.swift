import Foundation
import Testing

@testable import AirlockReceipts

/// Regenerates the worked example of `docs/receipts.md` and checks that every value printed there is exact, so
/// the document cannot drift from the code.
@Suite("docs/receipts.md worked example")
struct DocExampleTests {
    static let origin = "example.com/airlock/receipts"

    static func signer() throws -> CheckpointSigner {
        try CheckpointSigner(name: origin, seed: Array(0..<32))
    }

    static func document() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("docs/receipts.md"), encoding: .utf8)
    }

    /// The example log: the key announcement, one request and its completion.
    static func makeExample(in directory: String) async throws {
        var configuration = ReceiptLog.Configuration(directory: directory, origin: origin, signers: [try signer()])
        configuration.wallClock = { 1_767_225_600_000_000_000 }
        let log = try await ReceiptLog.open(configuration)
        let bodyKey = try BodyKey(bytes: Array(repeating: 0x42, count: 32))
        // The request and completion records exactly as the router writes them (RequestPipeline.forward).
        var intent = Receipt(
            kind: .request,
            time: 1_767_225_601_000_000_000,
            sandbox: "agent-1",
            tenant: "acme",
            uid: 1000,
            route: "chat.completions",
            provider: "openai",
            upstream: "api.openai.com",
            model: "gpt-4o-mini",
            decision: "allow",
            reason: "admitted",
            traceID: "4bf92f3577b34da6a3ce929d0e0e4736",
            policyDigest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            requestHMAC: bodyKey.digest(Array("{\"model\":\"gpt-4o-mini\"}".utf8))
        )
        let request = try await log.append(intent)
        intent.kind = .completion
        intent.time = 1_767_225_601_850_000_000
        intent.requestHMAC = nil
        intent.requestIndex = request
        intent.decision = "ok"
        intent.reason = "completed"
        intent.status = 200
        intent.attempts = 1
        intent.tokensIn = 12
        intent.tokensOut = 34
        intent.latencyMicroseconds = 850_000
        intent.responseHMAC = bodyKey.digest(Array("{\"choices\":[]}".utf8))
        _ = try await log.append(intent)
        try await log.close()
    }

    @Test("every value of the worked example appears verbatim in the document")
    func example() async throws {
        let directory = makeTemporaryDirectory("doc")
        defer { removeDirectory(directory) }
        try await Self.makeExample(in: directory)
        let document = try Self.document()

        let report = try Auditor(directory: directory, keys: [try Self.signer().verifierKey]).verify()
        #expect(report.isValid && report.size == 3)

        var values: [String] = [try Self.signer().verifierKey.text]
        try LogReader(directory: directory).forEach { entry in
            values.append(entry.json)
            values.append(entry.leafHash.hex)
            return true
        }
        let leafHashes = try LogReader(directory: directory).storedLeafHashes()
        values.append(RFC6962.nodeHash(leafHashes[0], leafHashes[1]).hex)
        values.append(report.root.hex)
        let checkpoint = String(decoding: readBytes(directory + "/" + LogFiles.checkpoint), as: UTF8.self)
        values.append(checkpoint)
        values.append(try Prover(directory: directory).inclusionProof(index: 1).text)
        let frame = Array(readBytes(segmentPath(directory)).prefix(Frame.headerBytes))
        values.append(Hex.encode(frame))

        // To regenerate the example after a deliberate change, run the test with this set and copy the values.
        if let out = ProcessInfo.processInfo.environment["AIRLOCK_DOC_EXAMPLE_OUT"] {
            writeBytes(Array(values.joined(separator: "\n=====\n").utf8), to: out)
        }
        for value in values {
            #expect(document.contains(value), "docs/receipts.md lacks or has a stale value:\n\(value)")
        }
    }
}
