import AirlockReceipts
import AirlockTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `airlock witness` as operators run it: a real process on a loopback port, spoken to over real sockets with the
/// C2SP tlog-witness add-checkpoint API, its state in a real directory.
@Suite("Witness process", .timeLimit(.minutes(2)))
struct WitnessProcessTests {
    /// A receipt log as the witness sees it: a Merkle tree and the key that signs its checkpoints.
    struct TestLog {
        var tree = MerkleTree()
        let signer: CheckpointSigner
        var origin: String { signer.name }

        init(origin: String = "router.test/receipts", signer: CheckpointSigner? = nil) throws {
            self.signer = try signer ?? CheckpointSigner.generate(name: origin)
        }

        mutating func grow(to size: UInt64, salt: String = "") {
            while tree.size < size { tree.append(leafHash: RFC6962.leafHash(Array("record \(tree.size)\(salt)".utf8))) }
        }

        func checkpoint(_ size: UInt64) throws -> SignedCheckpoint {
            try SignedCheckpoint(
                signing: Checkpoint(origin: origin, size: size, root: tree.rootHash(size: size)), with: [signer])
        }

        /// An add-checkpoint body from `old` to `size`, with the proof from this tree.
        func body(old: UInt64, size: UInt64) throws -> String {
            let proof = old == 0 || old == size ? [] : try tree.consistencyProof(oldSize: old, newSize: size)
            return Self.body(old: old, proof: proof, checkpoint: try checkpoint(size))
        }

        static func body(old: UInt64, proof: [MerkleHash], checkpoint: SignedCheckpoint) -> String {
            "old \(old)\n" + proof.map { $0.base64 + "\n" }.joined() + "\n"
                + String(decoding: checkpoint.serialized, as: UTF8.self)
        }
    }

    struct Answer {
        let status: Int
        let contentType: String
        let body: String
    }

    /// A running witness process.
    final class Running: Sendable {
        let process: AirlockProcess
        let port: Int
        let key: CosignerKey

        convenience init(keyFile: String, logs: [String], state: String, extra: [String] = []) async throws {
            try await self.init(keyFile: keyFile, logs: logs, stateArguments: ["--state", state], near: state, extra: extra)
        }

        /// `stateArguments`: `--state DIR` or `--state-postgres FILE`; the ready file is written next to `near`.
        init(keyFile: String, logs: [String], stateArguments: [String], near: String, extra: [String] = []) async throws {
            let ready = near + ".ready-\(UInt64.random(in: 0...UInt64.max))"
            process = try AirlockProcess(
                ["witness", "serve", "--key", keyFile, "--ready-file", ready] + stateArguments
                    + logs.flatMap { ["--log", $0] } + extra
            )
            let text = try await process.waitForFile(ready)
            let fields = text.split(whereSeparator: { "{}\":,\n".contains($0) })
            let portIndex = try #require(fields.firstIndex(of: "port"))
            port = try #require(Int(fields[portIndex + 1]))
            let keyIndex = try #require(fields.firstIndex(of: "witness_key"))
            key = try CosignerKey(text: String(fields[keyIndex + 1]))
        }

        func post(_ body: String, path: String = "/add-checkpoint", method: String = "POST") async throws -> Answer {
            try await exchange(
                "\(method) \(path) HTTP/1.1\r\nhost: witness\r\ncontent-length: \(body.utf8.count)\r\nconnection: close\r\n\r\n"
                    + body)
        }

        /// Sends `request` exactly as given and reads the answer to the close.
        func exchange(_ request: String) async throws -> Answer {
            let port = self.port
            let raw = try await offPool {
                let socket = try RawSocket(port: port)
                socket.send(request)
                return socket.readAll().text
            }
            guard let split = raw.range(of: "\r\n\r\n") else { throw TestSupportError("no HTTP answer: '\(raw)'") }
            let head = raw[..<split.lowerBound].split(separator: "\r\n")
            let status = Int(head.first?.split(separator: " ")[1] ?? "") ?? 0
            let type =
                head.first { $0.lowercased().hasPrefix("content-type:") }
                .map { String($0.dropFirst("content-type:".count)).trimmingCharacters(in: .whitespaces) } ?? ""
            return Answer(status: status, contentType: type, body: String(raw[split.upperBound...]))
        }

        /// Stops the process and returns what it wrote to stderr.
        func stop() async throws -> String {
            process.signal(SIGTERM)
            _ = try await process.waitForExit()
            return process.standardError()
        }
    }

    static func setUp() async throws -> (directory: String, keyFile: String) {
        let directory = TempDirectory.make()
        let keyFile = directory + "/witness"
        _ = try await AirlockProcess.runToEnd(["witness", "keygen", "--name", "witness.test/w1", "--out", keyFile])
        return (directory, keyFile + ".key")
    }

    /// Checks a 200 answer: one cosignature line by the witness over exactly this checkpoint.
    static func expectCosigned(_ answer: Answer, _ checkpoint: SignedCheckpoint, by key: CosignerKey) throws {
        #expect(answer.status == 200, "\(answer.body)")
        let note = try SignedNote(parsing: checkpoint.serialized + Array(answer.body.utf8))
        let line = try #require(
            note.signatures.first { key.matches($0) }, "no cosignature by the witness in '\(answer.body)'")
        #expect(key.verify(try Cosignature(line), checkpointText: checkpoint.note.text))
    }

    @Test("cosigns a growing log, checking each consistency proof; a bad proof is 422 and changes nothing")
    func growingLog() async throws {
        let (directory, keyFile) = try await Self.setUp()
        var log = try TestLog()
        let witness = try await Running(
            keyFile: keyFile, logs: [log.signer.verifierKey.text], state: directory + "/state")
        log.grow(to: 3)
        try Self.expectCosigned(
            try await witness.post(try log.body(old: 0, size: 3)), try log.checkpoint(3), by: witness.key)
        log.grow(to: 7)
        try Self.expectCosigned(
            try await witness.post(try log.body(old: 3, size: 7)), try log.checkpoint(7), by: witness.key)
        // The same checkpoint again is cosigned again (a fresh timestamp), with an empty proof.
        try Self.expectCosigned(
            try await witness.post(try log.body(old: 7, size: 7)), try log.checkpoint(7), by: witness.key)

        log.grow(to: 20)
        var proof = try log.tree.consistencyProof(oldSize: 7, newSize: 20)
        proof[0] = RFC6962.leafHash(Array("not a node".utf8))
        let bad = try await witness.post(TestLog.body(old: 7, proof: proof, checkpoint: try log.checkpoint(20)))
        #expect(bad.status == 422, "\(bad.body)")
        try Self.expectCosigned(
            try await witness.post(try log.body(old: 7, size: 20)), try log.checkpoint(20), by: witness.key)
        _ = try await witness.stop()
    }

    @Test("a rollback is refused: 409 with the cosigned size (text/x.tlog.size), and logged")
    func rollback() async throws {
        let (directory, keyFile) = try await Self.setUp()
        var log = try TestLog()
        let witness = try await Running(
            keyFile: keyFile, logs: [log.signer.verifierKey.text], state: directory + "/state")
        log.grow(to: 10)
        #expect(try await witness.post(try log.body(old: 0, size: 10)).status == 200)

        let back = try await witness.post(try log.body(old: 5, size: 5))
        #expect(back.status == 409)
        #expect(back.contentType == "text/x.tlog.size")
        #expect(back.body == "10\n")
        // Claiming the witness's own size for a smaller tree is a bad request (old size above the checkpoint's).
        #expect(
            try await witness.post(TestLog.body(old: 10, proof: [], checkpoint: try log.checkpoint(5))).status == 400)
        // A stale old size for a larger tree: 409 with the current size, so the log can retry with a proof from 10.
        log.grow(to: 12)
        let stale = try await witness.post(try log.body(old: 3, size: 12))
        #expect(stale.status == 409)
        #expect(stale.body == "10\n")
        try Self.expectCosigned(
            try await witness.post(try log.body(old: 10, size: 12)), try log.checkpoint(12), by: witness.key)

        let stderr = try await witness.stop()
        // Both refusals of the smaller tree (409 and 400) are logged.
        let line = "ROLLBACK refused for 'router.test/receipts': size 5 submitted, size 10 already cosigned"
        #expect(stderr.components(separatedBy: line).count == 3, "\(stderr)")
    }

    @Test("a fork is refused: another root at the cosigned size is 409, a forked larger tree is 422; both logged")
    func fork() async throws {
        let (directory, keyFile) = try await Self.setUp()
        var log = try TestLog()
        // A second router under the same origin and key whose records differ: the split view a witness must stop.
        var forked = try TestLog(signer: log.signer)
        let witness = try await Running(
            keyFile: keyFile, logs: [log.signer.verifierKey.text], state: directory + "/state")
        log.grow(to: 8)
        forked.grow(to: 8, salt: " forked")
        #expect(try await witness.post(try log.body(old: 0, size: 8)).status == 200)

        let sameSize = try await witness.post(try forked.body(old: 8, size: 8))
        #expect(sameSize.status == 409, "\(sameSize.body)")
        forked.grow(to: 16, salt: " forked")
        let larger = try await witness.post(try forked.body(old: 8, size: 16))
        #expect(larger.status == 422, "\(larger.body)")
        // The honest log still extends.
        log.grow(to: 16)
        try Self.expectCosigned(
            try await witness.post(try log.body(old: 8, size: 16)), try log.checkpoint(16), by: witness.key)

        let stderr = try await witness.stop()
        #expect(stderr.contains("FORK refused for 'router.test/receipts': size 8 submitted with root"), "\(stderr)")
        #expect(stderr.contains("FORK or bad proof refused for 'router.test/receipts': size 16"), "\(stderr)")
    }

    @Test(
        "unknown origin is 404, another key under the log's name is 403, malformed and oversized requests are refused")
    func refusals() async throws {
        let (directory, keyFile) = try await Self.setUp()
        var log = try TestLog()
        log.grow(to: 4)
        let witness = try await Running(
            keyFile: keyFile, logs: [log.signer.verifierKey.text], state: directory + "/state",
            extra: ["--max-body-bytes", "4096"]
        )
        var stranger = try TestLog(origin: "other.test/receipts")
        stranger.grow(to: 4)
        #expect(try await witness.post(try stranger.body(old: 0, size: 4)).status == 404)
        var impostor = try TestLog(signer: try CheckpointSigner.generate(name: log.origin))
        impostor.grow(to: 4)
        let forbidden = try await witness.post(try impostor.body(old: 0, size: 4))
        #expect(forbidden.status == 403)
        #expect(forbidden.body.contains("no signature on the checkpoint is by a key this witness trusts"))
        // A valid signature line altered by one byte.
        var altered = try log.body(old: 0, size: 4)
        altered = altered.replacingOccurrences(of: "\n4\n", with: "\n5\n")
        #expect(try await witness.post(altered).status == 403)

        #expect(
            try await witness.post("old 01\n\n" + String(decoding: try log.checkpoint(4).serialized, as: UTF8.self))
                .status == 400)
        #expect(
            try await witness.post(
                "old 0\nnot-a-hash\n\n" + String(decoding: try log.checkpoint(4).serialized, as: UTF8.self)
            ).status == 400)
        #expect(try await witness.post("old 0\n").status == 400)
        #expect(try await witness.post(String(repeating: "x", count: 5000)).status == 413)
        // Request smuggling shapes are refused on the head, as on the router's own listeners.
        let body = "old 0\n\n"
        for framing in [
            "content-length: \(body.utf8.count)\r\ntransfer-encoding: chunked",
            "content-length: \(body.utf8.count)\r\ncontent-length: \(body.utf8.count)",
            "transfer-encoding: identity, chunked",
        ] {
            let answer = try await witness.exchange(
                "POST /add-checkpoint HTTP/1.1\r\nhost: witness\r\n\(framing)\r\nconnection: close\r\n\r\n\(body)")
            #expect(answer.status == 400, "\(framing): \(answer)")
        }
        #expect(try await witness.post("", method: "GET").status == 405)
        #expect(try await witness.post("", path: "/other").status == 404)
        // Nothing above changed the state: the first real checkpoint is cosigned from size 0.
        try Self.expectCosigned(
            try await witness.post(try log.body(old: 0, size: 4)), try log.checkpoint(4), by: witness.key)
        _ = try await witness.stop()
    }

    @Test("the state survives a restart: the cosigned size is kept and a rollback after the restart is refused")
    func restart() async throws {
        let (directory, keyFile) = try await Self.setUp()
        var log = try TestLog()
        let first = try await Running(
            keyFile: keyFile, logs: [log.signer.verifierKey.text], state: directory + "/state")
        log.grow(to: 9)
        #expect(try await first.post(try log.body(old: 0, size: 9)).status == 200)
        _ = try await first.stop()

        let second = try await Running(
            keyFile: keyFile, logs: [log.signer.verifierKey.text], state: directory + "/state")
        #expect(second.key == first.key)
        let fresh = try await second.post(try log.body(old: 0, size: 4))
        #expect(fresh.status == 409)
        #expect(fresh.body == "9\n")
        log.grow(to: 11)
        try Self.expectCosigned(
            try await second.post(try log.body(old: 9, size: 11)), try log.checkpoint(11), by: second.key)
        _ = try await second.stop()
    }

    @Test("concurrent submissions from one old size: exactly one is cosigned, every other is 409 with its size")
    func concurrentSubmissions() async throws {
        let (directory, keyFile) = try await Self.setUp()
        var log = try TestLog()
        let witness = try await Running(
            keyFile: keyFile, logs: [log.signer.verifierKey.text], state: directory + "/state")
        log.grow(to: 10)
        #expect(try await witness.post(try log.body(old: 0, size: 10)).status == 200)
        log.grow(to: 18)
        let bodies = try (11...18).map { (UInt64($0), try log.body(old: 10, size: UInt64($0))) }
        let answers = try await withThrowingTaskGroup(of: (UInt64, Answer).self) { group in
            for (size, body) in bodies {
                group.addTask { (size, try await witness.post(body)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let winners = answers.filter { $0.1.status == 200 }
        #expect(winners.count == 1, "\(answers.map { ($0.0, $0.1.status) })")
        let won = try #require(winners.first).0
        for (size, answer) in answers where size != won {
            #expect(answer.status == 409 && answer.body == "\(won)\n", "size \(size): \(answer.status) \(answer.body)")
        }
        #expect(try await witness.post(try log.body(old: won, size: 18)).status == 200)
        _ = try await witness.stop()
    }

    @Test("a trickled request head is cut at the header timeout, a silent connection at the idle timeout")
    func timeouts() async throws {
        let (directory, keyFile) = try await Self.setUp()
        let log = try TestLog()
        let witness = try await Running(
            keyFile: keyFile, logs: [log.signer.verifierKey.text], state: directory + "/state",
            extra: ["--header-timeout", "1", "--idle-timeout", "3"]
        )
        let port = witness.port
        let (trickled, silent) = try await offPool {
            let start = ContinuousClock.now
            let partial = try RawSocket(port: port)
            partial.send("POST /add-checkpoint HTTP/1.1\r\nhost: witness\r\n")
            let cut = partial.readAll()
            let trickled = (ContinuousClock.now - start, cut.closed)
            let quiet = try RawSocket(port: port)
            let idle = quiet.readAll()
            return (trickled, (ContinuousClock.now - start - trickled.0, idle.closed))
        }
        #expect(trickled.1 && trickled.0 >= .milliseconds(900) && trickled.0 < .milliseconds(2500), "\(trickled)")
        #expect(silent.1 && silent.0 >= .milliseconds(2900) && silent.0 < .seconds(6), "\(silent)")
        _ = try await witness.stop()
    }

    @Test("a kept-alive connection after an answer is closed at the idle timeout, not the header timeout")
    func keptAlive() async throws {
        let (directory, keyFile) = try await Self.setUp()
        var log = try TestLog()
        let witness = try await Running(
            keyFile: keyFile, logs: [log.signer.verifierKey.text], state: directory + "/state",
            extra: ["--header-timeout", "1", "--idle-timeout", "3"]
        )
        log.grow(to: 3)
        let body = try log.body(old: 0, size: 3)
        let port = witness.port
        let (text, closed, elapsed) = try await offPool {
            let socket = try RawSocket(port: port)
            let start = ContinuousClock.now
            socket.send(
                "POST /add-checkpoint HTTP/1.1\r\nhost: witness\r\ncontent-length: \(body.utf8.count)\r\n\r\n" + body)
            let (text, closed) = socket.readAll()
            return (text, closed, ContinuousClock.now - start)
        }
        #expect(text.hasPrefix("HTTP/1.1 200"), "\(text)")
        #expect(closed && elapsed >= .milliseconds(2900) && elapsed < .seconds(6), "\(elapsed)")
        _ = try await witness.stop()
    }

    @Test("refuses to start with a key file other users can read, or on a non-loopback address")
    func startRefusals() async throws {
        let (directory, keyFile) = try await Self.setUp()
        let log = try TestLog()
        chmod(keyFile, 0o644)
        let open = try await AirlockProcess.runToEnd(
            [
                "witness", "serve", "--key", keyFile, "--state", directory + "/state", "--log",
                log.signer.verifierKey.text,
            ]
        )
        #expect(open.status != 0)
        #expect(open.error.contains("run chmod 600 on it"), "\(open.error)")
        chmod(keyFile, 0o600)
        let wide = try await AirlockProcess.runToEnd(
            [
                "witness", "serve", "--key", keyFile, "--state", directory + "/state", "--log",
                log.signer.verifierKey.text, "--host", "0.0.0.0",
            ]
        )
        #expect(wide.status != 0)
        #expect(wide.error.contains("listens only on a loopback address"), "\(wide.error)")
    }
}
