#if canImport(Glibc)
import Glibc
#endif
import AirlockMockUpstream
import AirlockReceipts
import AirlockTestSupport
import Foundation
import Testing

/// Two `airlock witness serve` processes, replicas of one witness (one key), keep their state in one real
/// PostgreSQL server: what one cosigned binds the other. Each test's attack succeeds against replicas with a
/// state file each (the control test shows it), so a pass here is the shared state's doing.
@Suite(
    "Witness replicas on PostgreSQL",
    .enabled(
        if: PostgresServer.unavailable == nil,
        "needs PostgreSQL's server binaries (scripts/install-deps.sh installs them) and, as root, setpriv to run it as nobody"
    ),
    .serialized,
    .timeLimit(.minutes(3))
)
struct PostgresWitnessProcessTests {
    typealias TestLog = WitnessProcessTests.TestLog
    typealias Running = WitnessProcessTests.Running

    /// The `--state-postgres` file for `server`.
    static func stateFile(_ server: PostgresServer, in directory: String, timeout: String = "5s") throws -> String {
        let path = directory + "/witness-db.yaml"
        try TempDirectory.write(
            path,
            """
            host: 127.0.0.1
            port: \(server.port)
            database: \(server.database)
            user: \(server.user)
            password_file: \(server.passwordFile)
            tls: disable
            timeout: \(timeout)
            max_connections: 2

            """,
            mode: 0o600
        )
        return path
    }

    /// Two replicas of one witness on `server`.
    static func replicas(
        _ server: PostgresServer, log: TestLog, timeout: String = "5s"
    ) async throws -> (Running, Running) {
        let (directory, keyFile) = try await WitnessProcessTests.setUp()
        let file = try stateFile(server, in: directory, timeout: timeout)
        let logs = [log.signer.verifierKey.text]
        let a = try await Running(keyFile: keyFile, logs: logs, stateArguments: ["--state-postgres", file], near: directory + "/a")
        let b = try await Running(keyFile: keyFile, logs: logs, stateArguments: ["--state-postgres", file], near: directory + "/b")
        return (a, b)
    }

    @Test("control: replicas with a state directory each cosign a fork and a rollback of what another cosigned")
    func separateFilesAreForked() async throws {
        let (directory, keyFile) = try await WitnessProcessTests.setUp()
        var log = try TestLog()
        let logs = [log.signer.verifierKey.text]
        let a = try await Running(keyFile: keyFile, logs: logs, state: directory + "/a")
        let b = try await Running(keyFile: keyFile, logs: logs, state: directory + "/b")
        let c = try await Running(keyFile: keyFile, logs: logs, state: directory + "/c")
        var forked = try TestLog(signer: log.signer)
        log.grow(to: 10)
        forked.grow(to: 10, salt: " forked")
        #expect(try await a.post(try log.body(old: 0, size: 10)).status == 200)
        // The same key cosigns a second tree of size 10, and a smaller tree after size 10: both attacks succeed.
        #expect(try await b.post(try forked.body(old: 0, size: 10)).status == 200)
        #expect(try await c.post(try log.body(old: 0, size: 5)).status == 200)
        for replica in [a, b, c] { _ = try await replica.stop() }
    }

    @Test("a checkpoint cosigned by replica A binds replica B: a rollback (409) and a fork (409, 422) are refused and logged")
    func forkAndRollbackAcrossReplicas() async throws {
        let server = try await PostgresServer.start()
        var log = try TestLog()
        var forked = try TestLog(signer: log.signer)
        let (a, b) = try await Self.replicas(server, log: log)
        log.grow(to: 10)
        forked.grow(to: 10, salt: " forked")
        try WitnessProcessTests.expectCosigned(try await a.post(try log.body(old: 0, size: 10)), try log.checkpoint(10), by: a.key)

        // B never saw this log, yet knows size 10: the same fresh submissions a file-backed B cosigned are refused.
        let back = try await b.post(try log.body(old: 0, size: 5))
        #expect(back.status == 409 && back.body == "10\n", "\(back)")
        let sameSize = try await b.post(try forked.body(old: 0, size: 10))
        #expect(sameSize.status == 409 && sameSize.body == "10\n", "\(sameSize)")
        let sameSizeFromTen = try await b.post(try forked.body(old: 10, size: 10))
        #expect(sameSizeFromTen.status == 409, "\(sameSizeFromTen)")
        forked.grow(to: 16, salt: " forked")
        let larger = try await b.post(try forked.body(old: 10, size: 16))
        #expect(larger.status == 422, "\(larger)")

        // The honest log extends on B, and A then knows B's size.
        log.grow(to: 12)
        try WitnessProcessTests.expectCosigned(try await b.post(try log.body(old: 10, size: 12)), try log.checkpoint(12), by: b.key)
        log.grow(to: 14)
        let stale = try await a.post(try log.body(old: 10, size: 14))
        #expect(stale.status == 409 && stale.body == "12\n", "\(stale)")
        try WitnessProcessTests.expectCosigned(try await a.post(try log.body(old: 12, size: 14)), try log.checkpoint(14), by: a.key)

        _ = try await a.stop()
        let logged = try await b.stop()
        #expect(logged.contains("ROLLBACK refused for 'router.test/receipts': size 5 submitted, size 10 already cosigned"), "\(logged)")
        #expect(logged.contains("FORK refused for 'router.test/receipts': size 10 submitted with root"), "\(logged)")
        #expect(logged.contains("FORK or bad proof refused for 'router.test/receipts': size 16"), "\(logged)")
        #expect(try await server.integer("SELECT size FROM airlock_witness_tree") == 14)
    }

    @Test("two different trees of one size sent at once to A and to B: exactly one is cosigned, every round")
    func concurrentForksAcrossReplicas() async throws {
        let server = try await PostgresServer.start()
        var base = try TestLog()
        let (a, b) = try await Self.replicas(server, log: base)
        base.grow(to: 10)
        #expect(try await a.post(try base.body(old: 0, size: 10)).status == 200)
        for round in 0..<4 {
            let old = base.tree.size
            var left = base
            var right = base
            left.grow(to: old + 6, salt: " left \(round)")
            right.grow(to: old + 6, salt: " right \(round)")
            let (leftBody, rightBody) = (try left.body(old: old, size: old + 6), try right.body(old: old, size: old + 6))
            // Alternate which replica gets which tree, so neither is always first.
            let (first, second) = round % 2 == 0 ? (a, b) : (b, a)
            async let leftAnswer = first.post(leftBody)
            async let rightAnswer = second.post(rightBody)
            let answers = [try await leftAnswer, try await rightAnswer]
            let cosigned = answers.filter { $0.status == 200 }
            #expect(cosigned.count == 1, "round \(round): \(answers.map { ($0.status, $0.body) })")
            #expect(answers.allSatisfy { $0.status == 200 || $0.status == 409 }, "round \(round): \(answers)")
            guard cosigned.count == 1 else { break }
            let winner = answers[0].status == 200 ? left : right
            let loser = answers[0].status == 200 ? right : left
            try WitnessProcessTests.expectCosigned(cosigned[0], try winner.checkpoint(old + 6), by: a.key)
            // The losing tree is refused on both replicas now: a fork of what was cosigned.
            for replica in [a, b] {
                #expect(try await replica.post(try loser.body(old: old + 6, size: old + 6)).status == 409)
            }
            base = winner
        }
        _ = try await a.stop()
        _ = try await b.stop()
    }

    @Test("with the database stopped nothing is cosigned (503); once it is back the same checkpoint is")
    func databaseDown() async throws {
        let server = try await PostgresServer.start()
        var log = try TestLog()
        let (a, b) = try await Self.replicas(server, log: log, timeout: "2s")
        log.grow(to: 4)
        #expect(try await a.post(try log.body(old: 0, size: 4)).status == 200)
        try await server.stop()
        log.grow(to: 9)
        for replica in [a, b] {
            let down = try await replica.post(try log.body(old: 4, size: 9))
            #expect(down.status == 503, "\(down)")
            #expect(down.body.contains("nothing was cosigned"), "\(down.body)")
            #expect(down.body.contains("127.0.0.1:\(server.port)"), "\(down.body)")
        }
        try await server.startServer()
        var answer = WitnessProcessTests.Answer(status: 0, contentType: "", body: "")
        let back = await eventually(seconds: 30) {
            answer = (try? await b.post(try log.body(old: 4, size: 9))) ?? answer
            return answer.status != 503
        }
        #expect(back)
        try WitnessProcessTests.expectCosigned(answer, try log.checkpoint(9), by: b.key)
        #expect(try await a.post(try log.body(old: 4, size: 9)).status == 409)
        _ = try await a.stop()
        _ = try await b.stop()
    }

    @Test(
        "a router whose witness answers 503 (its database away) submits the same checkpoint again, and it is cosigned once the database is back"
    )
    func routerRetriesUnavailableWitness() async throws {
        let server = try await PostgresServer.start()
        let directory = TempDirectory.make()
        chmod(directory, 0o755)
        _ = try await AirlockProcess.runToEnd(["witness", "keygen", "--name", "witness.test/w1", "--out", directory + "/witness"])
        let keygen = try await AirlockProcess.runToEnd(
            ["receipts", "keygen", "--name", "router.test/receipts", "--out", directory + "/log"])
        let logKey = keygen.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let file = try Self.stateFile(server, in: directory, timeout: "2s")
        let witness = try await Running(
            keyFile: directory + "/witness.key", logs: [logKey], stateArguments: ["--state-postgres", file], near: directory + "/w")
        try await server.stop()

        let (stack, logDirectory) = try await RouterWitnessTests.stack(
            keyFile: directory + "/log.key", witnessPort: witness.port, witnessKey: witness.key)
        let (router, port) = try await RouterProcessTests.startRouterWithPort(stack)
        #expect(try await RouterProcessTests.chat(port).hasPrefix("HTTP/1.1 200"))
        // The log stops growing here: only a router that submits the same checkpoint again gets it cosigned.
        let written = await eventually(seconds: 15) { RouterWitnessTests.storedCheckpoint(logDirectory) != nil }
        #expect(written)
        try await Task.sleep(for: .seconds(3))
        let before = RouterWitnessTests.storedCheckpoint(logDirectory)
        #expect(!RouterWitnessTests.cosigned(before, by: witness.key), "cosigned while the witness's database was down")

        try await server.startServer()
        let cosigned = await eventually(seconds: 30) {
            RouterWitnessTests.cosigned(RouterWitnessTests.storedCheckpoint(logDirectory), by: witness.key)
        }
        #expect(cosigned, "the checkpoint was not submitted again once the witness could answer")
        #expect(RouterWitnessTests.storedCheckpoint(logDirectory)?.checkpoint.size == before?.checkpoint.size)
        router.signal(SIGTERM)
        #expect(try await router.waitForExit() == 0)
        // Logged at error level, which the router here runs at; the retries are warnings.
        let routerLog = router.standardError()
        #expect(!routerLog.contains("witness refused the checkpoint"), "\(routerLog)")
        _ = try await witness.stop()
        try await stack.mock.shutdown()
        try await server.stop()
    }

    @Test("serve takes exactly one state; a bad settings file or an unreachable database is refused with where and why")
    func startRefusals() async throws {
        let (directory, keyFile) = try await WitnessProcessTests.setUp()
        let log = try TestLog()
        let serve = ["witness", "serve", "--key", keyFile, "--log", log.signer.verifierKey.text]
        let neither = try await AirlockProcess.runToEnd(serve)
        #expect(neither.status != 0 && neither.error.contains("--state DIR") && neither.error.contains("--state-postgres FILE"), "\(neither.error)")
        let file = directory + "/db.yaml"
        try TempDirectory.write(file, "host: db.internal\ndatabase: airlock\nuser: witness\npasword_file: /x\n", mode: 0o600)
        let both = try await AirlockProcess.runToEnd(serve + ["--state", directory + "/state", "--state-postgres", file])
        #expect(both.status != 0 && both.error.contains("not both"), "\(both.error)")
        let typo = try await AirlockProcess.runToEnd(serve + ["--state-postgres", file])
        #expect(typo.status != 0 && typo.error.contains("pasword_file") && typo.error.contains(file), "\(typo.error)")
        try TempDirectory.write(file, "host: 10.0.0.5\ndatabase: airlock\nuser: witness\npassword_file: run/pw\n", mode: 0o600)
        let invalid = try await AirlockProcess.runToEnd(serve + ["--state-postgres", file])
        #expect(invalid.status != 0 && invalid.error.contains("DNS name") && invalid.error.contains("absolute path"), "\(invalid.error)")
        let port = Loopback.freePort()
        try TempDirectory.write(file, "host: 127.0.0.1\nport: \(port)\ndatabase: airlock\nuser: witness\ntls: disable\ntimeout: 1s\n", mode: 0o600)
        let unreachable = try await AirlockProcess.runToEnd(serve + ["--state-postgres", file])
        #expect(unreachable.status != 0, "\(unreachable.error)")
        #expect(unreachable.error.contains("\(file): cannot use the witness state database airlock at 127.0.0.1:\(port)"), "\(unreachable.error)")
    }
}
