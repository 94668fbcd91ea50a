import AirlockTestSupport
import Foundation
import Testing

@testable import AirlockReceipts

/// Runs `airlock-receipts-writer` as a real child process.
struct WriterProcess {
    let process = Process()
    private let pipe = Pipe()

    init(directory: String, keyFile: String, arguments: [String] = []) throws {
        let executable = productsDirectory() + "/airlock-receipts-writer"
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw ReceiptLogError(.io, "the writer helper is not built next to the tests", path: executable)
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [directory, keyFile] + arguments
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Waits for the process to end and returns its output lines.
    func finish() -> [String] {
        let data = readToEnd(pipe.fileHandleForReading)
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    static func acknowledged(_ lines: [String]) -> [UInt64] {
        lines.compactMap { $0.hasPrefix("ack ") ? UInt64($0.dropFirst(4)) : nil }
    }
}

@Suite("Crash safety with real processes", .serialized)
struct CrashSafetyTests {
    static func keyFile(in directory: String) throws -> String {
        let prefix = directory + "/signer"
        try CheckpointSigner(name: "test.airlock/crash", seed: Array(repeating: 4, count: 32)).write(toPrefix: prefix)
        return prefix + ".key"
    }

    @Test("SIGKILL at random moments under concurrent load loses no acknowledged append", .timeLimit(.minutes(5)))
    func sigkill() async throws {
        let root = makeTemporaryDirectory("crash")
        defer { removeDirectory(root) }
        let keyFile = try Self.keyFile(in: root)
        let verifier = try CheckpointSigner(contentsOfFile: keyFile).verifierKey
        let directory = root + "/log"
        var acknowledged = Set<UInt64>()
        var kills = 0
        var generator = SystemRandomNumberGenerator()

        for round in 0..<30 {
            let writer = try WriterProcess(directory: directory, keyFile: keyFile, arguments: ["--writers", "8"])
            let delay = UInt64.random(in: 20...250, using: &generator)
            try await Task.sleep(for: .milliseconds(delay))
            if writer.process.isRunning {
                kill(writer.process.processIdentifier, SIGKILL)
                kills += 1
            }
            // Waiting for the writer and verifying the log block a thread for up to seconds: not one of the few
            // that run every test's tasks (the in-process routers of other suites would stall behind it).
            let lines = try await offPool { writer.finish() }
            #expect(writer.process.terminationReason == .uncaughtSignal, "round \(round): \(lines.suffix(3))")
            if let opened = lines.first(where: { $0.hasPrefix("opened size=") }) {
                // Appending resumed after every acknowledged record of the earlier rounds.
                let size = UInt64(opened.dropFirst("opened size=".count))!
                #expect(size >= (acknowledged.max().map { $0 + 1 } ?? 0), "round \(round) reopened short")
            }
            #expect(!lines.contains { $0.hasPrefix("error") }, "round \(round): \(lines.filter { $0.hasPrefix("error") })")
            acknowledged.formUnion(WriterProcess.acknowledged(lines))

            let report = try await offPool { try Auditor(directory: directory, keys: [verifier]).verify() }
            #expect(report.isValid, "round \(round): \(report.summary)")
            if let missing = acknowledged.first(where: { $0 >= report.size }) {
                Issue.record("round \(round): acknowledged index \(missing) is missing (log has \(report.size))")
            }
        }
        #expect(kills >= 25, "the writer finished before it could be killed too often (\(kills) kills)")
        #expect(acknowledged.count > 1_000, "too little load to mean anything: \(acknowledged.count) acknowledged appends")

        // A clean run after all the crashes: recovery, appends, close, and every acknowledged record still there.
        let final = try WriterProcess(directory: directory, keyFile: keyFile, arguments: ["--writers", "4", "--count", "200"])
        let lines = final.finish()
        #expect(final.process.terminationStatus == 0, "\(lines.suffix(3))")
        acknowledged.formUnion(WriterProcess.acknowledged(lines))
        let report = try Auditor(directory: directory, keys: [verifier]).verify()
        #expect(report.isValid, "\(report.summary)")
        #expect(acknowledged.allSatisfy { $0 < report.size })
        #expect(report.latestCheckpoint?.checkpoint.size == report.size)
        let indices = try LogReader(directory: directory).storedLeafHashes().count
        #expect(UInt64(indices) == report.size)
    }

    @Test("a write error (file size limit) fails the append, leaves nothing half-written, and the log recovers",
        .timeLimit(.minutes(2)))
    func writeFailure() async throws {
        let root = makeTemporaryDirectory("efbig")
        defer { removeDirectory(root) }
        let keyFile = try Self.keyFile(in: root)
        let verifier = try CheckpointSigner(contentsOfFile: keyFile).verifierKey
        let directory = root + "/log"
        // RLIMIT_FSIZE makes write(2) fail with EFBIG once a file would grow past the limit: a real I/O error on a
        // real file, like a full disk, confined to the child process.
        let writer = try WriterProcess(
            directory: directory,
            keyFile: keyFile,
            arguments: ["--writers", "4", "--count", "100000", "--fsize-limit", "50000"]
        )
        let lines = writer.finish()
        let errors = lines.filter { $0.hasPrefix("error") }
        #expect(!errors.isEmpty, "the size limit never caused an error: \(lines.suffix(3))")
        #expect(errors.allSatisfy { $0.contains("EFBIG") || $0.contains("too large") || $0.contains("errno 27") }, "\(errors)")
        let acknowledged = WriterProcess.acknowledged(lines)
        #expect(!acknowledged.isEmpty)

        // Every frame on disk is whole and the log verifies; every acknowledged record is there.
        let report = try Auditor(directory: directory, keys: [verifier]).verify()
        #expect(report.isValid, "\(report.summary)")
        #expect(!report.warnings.contains { $0.contains("incomplete frame") }, "\(report.warnings)")
        #expect(acknowledged.allSatisfy { $0 < report.size })

        // Without the limit the log opens, and appending continues right after the last durable record.
        let again = try WriterProcess(directory: directory, keyFile: keyFile, arguments: ["--writers", "2", "--count", "10"])
        let next = again.finish()
        #expect(again.process.terminationStatus == 0, "\(next.suffix(3))")
        #expect(next.contains("opened size=\(report.size)"), "\(next.prefix(3))")
        #expect(try Auditor(directory: directory, keys: [verifier]).verify().isValid)
    }
}
