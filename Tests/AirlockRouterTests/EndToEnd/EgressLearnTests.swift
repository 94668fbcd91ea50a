#if canImport(Glibc)
import Glibc
#endif
import AirlockMockUpstream
import AirlockPolicy
import AirlockReceipts
import AirlockTestSupport
import Foundation
import Testing

@testable import AirlockRouter

/// `egress.mode: learn` over real sockets, and `airlock policy suggest` on the log it leaves.
@Suite("Egress learn mode", .timeLimit(.minutes(1)))
struct EgressLearnTests {
    @Test("learn mode lets through what the allow and deny lists refuse and receipts it; address checks still refuse; policy suggest lists the learned destinations")
    func learn() async throws {
        let directory = TempDirectory.make()
        let signer = try CheckpointSigner.generate(name: "airlock.test/learn")
        try signer.write(toPrefix: directory + "/signing")
        let origin = try await MockUpstreamServer.start(MockUpstreamConfiguration())
        let port = origin.port
        let h = try await Harness.start(directory: directory, receipts: nil) { c, dir in
            EgressProxyTests.configure(&c, dir, origin: port)
            c.router.egress.resolve["learned.test"] = "127.0.0.1"
            c.router.egress.resolve["also-denied.test"] = "127.0.0.1"
            c.sandboxes[0].egress.mode = .learn
            c.receipts = ReceiptSettings(directory: dir + "/receipts", origin: "airlock.test/learn", signingKeys: [dir + "/signing.key"])
        }
        let proxy = EgressProxyTests.egressPort(h)
        func tunnel(_ authority: String) async throws -> String {
            try await offPool {
                let socket = try RawSocket(port: proxy)
                socket.send("CONNECT \(authority) HTTP/1.1\r\nhost: x\r\n\r\nGET /__mock/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                return socket.readAll().text
            }
        }
        // Not on the allow list: let through, twice.
        for _ in 0..<2 {
            let text = try await tunnel("learned.test:\(port)")
            #expect(text.hasPrefix("HTTP/1.1 200 Connection established") && text.contains("HTTP/1.1 200"), "\(text)")
        }
        // On the deny list (and its address is loopback, which allow_addresses admits): let through, marked.
        #expect(try await tunnel("also-denied.test:\(port)").hasPrefix("HTTP/1.1 200"))
        // The address checks hold in learn mode: a private answer, metadata, the router's own upstream.
        #expect(try await tunnel("private.test:443").contains("x-airlock-reason: forbidden_address"))
        #expect(try await tunnel("169.254.169.254:80").contains("x-airlock-reason: forbidden_address"))
        #expect(try await tunnel("learned.test:\(h.mock.port)").contains("x-airlock-reason: router_endpoint"))
        try await Task.sleep(for: .milliseconds(300))
        await h.stop()
        try await origin.shutdown()

        let suggestion = try EgressSuggestion.collect(directory: directory + "/receipts")
        #expect(suggestion.sandboxes.map(\.name) == [Harness.sandbox])
        let destinations = suggestion.sandboxes.first?.destinations ?? []
        #expect(destinations == [
            .init(entry: "also-denied.test:\(port)", tunnels: 1, denylisted: true),
            .init(entry: "learned.test:\(port)", tunnels: 2, denylisted: false),
        ])
        // The same through the command an operator runs.
        let cli = try AirlockProcess(["policy", "suggest", "--receipts", directory + "/receipts"], captureOutput: true)
        #expect(try await cli.waitForExit() == 0, "\(cli.standardError())")
        let yaml = cli.standardOutput()
        #expect(yaml.contains("  - name: \(Harness.sandbox)\n    egress:\n      allow:\n"), "\(yaml)")
        #expect(yaml.contains("- \"learned.test:\(port)\"  # 2 tunnels"), "\(yaml)")
        #expect(yaml.contains("- \"also-denied.test:\(port)\"  # 1 tunnel; on the deny list"), "\(yaml)")
        #expect(!yaml.contains("private.test") && !yaml.contains("169.254"), "\(yaml)")
    }
}
