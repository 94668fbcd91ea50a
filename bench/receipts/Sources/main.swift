// Receipt log benchmark. Build and run in release mode:
//
//     swift build -c release --product airlock-receipts-bench
//     .build/release/airlock-receipts-bench [--dir PATH] [--records N] [--writers N] [--appends N]
//
// Measures durable appends per second under `.sync` with concurrent writers (each writer awaits its append
// before starting the next), verification speed in leaves per second on one core, and proof generation at the
// given log size.

import AirlockReceipts
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var directory = FileManager.default.currentDirectoryPath + "/.bench-receipts"
    var records = 1_000_000
    var writers = 16
    var appendsPerWriter = 4_000
    /// `all`, `sync` (append phases only) or `verify` (verification, recovery and proofs only).
    var only = "all"
    /// Keep the filled log after the run and reuse it when present (saves the fill in repeated verify runs).
    var keep = false
    /// Verification repetitions (the best is reported).
    var verifyRuns = 3

    static let usage = """
        usage: airlock-receipts-bench [--dir PATH] [--records N] [--writers N] [--appends N] [--verify-runs N]
                                      [--only all|sync|verify] [--keep]
        """

    init() {
        var rest = CommandLine.arguments.dropFirst()
        func fail(_ message: String) -> Never {
            FileHandle.standardError.write(Data("airlock-receipts-bench: \(message)\n\(Self.usage)\n".utf8))
            exit(2)
        }
        func count(_ option: String, _ value: String?) -> Int {
            guard let value, let number = Int(value), number > 0 else {
                fail("\(option) needs a positive whole number, got \(value.map { "\"\($0)\"" } ?? "nothing")")
            }
            return number
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--dir":
                guard let value = rest.popFirst(), !value.isEmpty else { fail("--dir needs a path") }
                directory = value
            case "--records": records = count(argument, rest.popFirst())
            case "--writers": writers = count(argument, rest.popFirst())
            case "--appends": appendsPerWriter = count(argument, rest.popFirst())
            case "--verify-runs": verifyRuns = count(argument, rest.popFirst())
            case "--only":
                guard let value = rest.popFirst(), ["all", "sync", "verify"].contains(value) else {
                    fail("--only takes all, sync or verify")
                }
                only = value
            case "--keep": keep = true
            case "--help", "-h":
                print(Self.usage)
                exit(0)
            default: fail("unknown option \(argument)")
            }
        }
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func receipt(_ number: Int, writer: Int) -> Receipt {
    Receipt(
        kind: .request,
        sandbox: "agent-\(writer)",
        tenant: "acme",
        uid: 1000,
        route: "chat",
        provider: "openai",
        upstream: "api.openai.com",
        model: "gpt-4o-mini",
        decision: "allow",
        reason: "ok",
        status: 200,
        attempts: 1,
        tokensIn: Int64(number % 5000),
        tokensOut: 321,
        latencyMicroseconds: 45_210,
        traceID: "4bf92f3577b34da6a3ce929d0e0e4736",
        policyDigest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        requestHMAC: BodyDigest(hex: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"),
        responseHMAC: BodyDigest(hex: "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9")
    )
}

func fresh(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

func appendLoad(
    directory: String,
    signer: CheckpointSigner,
    durability: Durability,
    writers: Int,
    inFlight: Int,
    perWriter: Int
) async throws -> (Int, Double) {
    fresh(directory)
    let log = try await ReceiptLog.open(
        .init(directory: directory, origin: "bench.airlock/receipts", signers: [signer], durability: durability)
    )
    let start = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for writer in 0..<(writers * inFlight) {
            group.addTask {
                for number in 0..<perWriter { _ = try await log.append(receipt(number, writer: writer % writers)) }
            }
        }
        try await group.waitForAll()
    }
    let elapsed = seconds(ContinuousClock.now - start)
    try await log.close()
    return (writers * inFlight * perWriter, elapsed)
}

let options = Options()
// With --keep the key is kept beside the log so that a reused log still verifies.
let keyPath = options.directory + ".key"
let signer: CheckpointSigner
if options.keep, let saved = try? CheckpointSigner(contentsOfFile: keyPath) {
    signer = saved
} else {
    signer = try CheckpointSigner.generate(name: "bench.airlock/receipts")
    if options.keep { _ = FileManager.default.createFile(atPath: keyPath, contents: Data(signer.privateKeyText.utf8), attributes: [.posixPermissions: 0o600]) }
}
print("receipt log benchmark (\(ProcessInfo.processInfo.activeProcessorCount) cores), directory \(options.directory)")

/// The disk's own limit: `count` appends of 4 KiB to a new file, each followed by `fdatasync`. Returns the
/// latencies in seconds, sorted. (The C probe bench/receipts/probe/fdatasync_probe.c measures the same.)
func fdatasyncLatencies(directory: String, count: Int) -> [Double] {
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let path = directory + "/fdatasync-probe"
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    precondition(fd >= 0, "cannot create \(path)")
    defer {
        close(fd)
        unlink(path)
    }
    let block = [UInt8](repeating: 0x78, count: 4096)
    var offset = 0
    var latencies: [Double] = []
    for round in 0..<(count + 10) {
        let start = ContinuousClock.now
        let written = block.withUnsafeBytes { pwrite(fd, $0.baseAddress!, $0.count, off_t(offset)) }
        precondition(written == block.count && fdatasync(fd) == 0, "probe write failed")
        offset += block.count
        if round >= 10 { latencies.append(seconds(ContinuousClock.now - start)) }
    }
    return latencies.sorted()
}

func reportProbe(_ label: String, writers: Int) {
    let latencies = fdatasyncLatencies(directory: options.directory + "/probe", count: 400)
    let p50 = latencies[latencies.count / 2]
    let p99 = latencies[latencies.count * 99 / 100]
    let mean = latencies.reduce(0, +) / Double(latencies.count)
    print(String(format: "fdatasync probe (%@): 4 KiB append + fdatasync p50 %.0f us, p99 %.0f us, mean %.0f us; ceiling for %d writers x 1 in flight = %d/p50 = %.0f/s (%d/mean = %.0f/s)",
        label, p50 * 1e6, p99 * 1e6, mean * 1e6, writers, writers, Double(writers) / p50, writers, Double(writers) / mean))
}

// 1. Durable appends under .sync.
if options.only != "verify" {
reportProbe("before the sync runs", writers: options.writers)
let syncDirectory = options.directory + "/sync"
let (count, elapsed) = try await appendLoad(
    directory: syncDirectory,
    signer: signer,
    durability: .sync,
    writers: options.writers,
    inFlight: 1,
    perWriter: options.appendsPerWriter
)
print(String(format: "sync appends, %d writers (1 in flight each): %d in %.2f s = %.0f durable appends/s",
    options.writers, count, elapsed, Double(count) / elapsed))
let (count16, elapsed16) = try await appendLoad(
    directory: syncDirectory,
    signer: signer,
    durability: .sync,
    writers: options.writers,
    inFlight: 16,
    perWriter: max(1, options.appendsPerWriter / 4)
)
print(String(format: "sync appends, %d writers x 16 in flight: %d in %.2f s = %.0f durable appends/s",
    options.writers, count16, elapsed16, Double(count16) / elapsed16))
reportProbe("after the sync runs", writers: options.writers)
}
if options.only == "sync" { exit(0) }

// 2. Verification speed on one core.
let bigDirectory = options.directory + "/big"
let fillStart = ContinuousClock.now
let reuse = options.keep && FileManager.default.fileExists(atPath: bigDirectory + "/checkpoint")
if !reuse {
let (filled, _) = try await appendLoad(
    directory: bigDirectory,
    signer: signer,
    durability: .batched(maxDelay: .milliseconds(20)),
    writers: 4,
    inFlight: 1,
    perWriter: options.records / 4
)
print(String(format: "filled %d records (batched) in %.2f s", filled, seconds(ContinuousClock.now - fillStart)))
}

let auditor = Auditor(directory: bigDirectory, keys: [signer.verifierKey])
var best = Double.infinity
var verifiedSize: UInt64 = 0
for _ in 0..<options.verifyRuns {
    let start = ContinuousClock.now
    let report = try auditor.verify()
    precondition(report.isValid, "verification failed: \(report.summary)")
    verifiedSize = report.size
    best = min(best, seconds(ContinuousClock.now - start))
}
let segmentBytes = try FileManager.default.contentsOfDirectory(atPath: bigDirectory)
    .filter { $0.hasSuffix(".seg") }
    .reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: bigDirectory + "/" + $1)[.size] as? Int) ?? 0) }
print(String(format: "verify: %d leaves (%.0f bytes/record on disk) in %.3f s = %.0f leaves/s (one core, best of %d)",
    verifiedSize, Double(segmentBytes) / Double(verifiedSize), best, Double(verifiedSize) / best, options.verifyRuns))

// 3. Reopen (recovery) and proof generation at this size.
let openStart = ContinuousClock.now
let reopened = try await ReceiptLog.open(
    .init(directory: bigDirectory, origin: "bench.airlock/receipts", signers: [signer])
)
let openTime = seconds(ContinuousClock.now - openStart)
try await reopened.close()
print(String(format: "open with recovery scan at %d records: %.3f s", verifiedSize, openTime))

let loadStart = ContinuousClock.now
let prover = try Prover(directory: bigDirectory)
let loadTime = seconds(ContinuousClock.now - loadStart)
let latest = try LogReader(directory: bigDirectory).latestCheckpoint()!.checkpoint
var generator = SystemRandomNumberGenerator()
let proofs = 10_000
let proofStart = ContinuousClock.now
var totalHashes = 0
for _ in 0..<proofs {
    let index = UInt64.random(in: 0..<latest.size, using: &generator)
    totalHashes += try prover.tree.inclusionProof(index: index, treeSize: latest.size).count
}
let inclusionTime = seconds(ContinuousClock.now - proofStart) / Double(proofs)
let consistencyStart = ContinuousClock.now
for _ in 0..<proofs {
    let old = UInt64.random(in: 1..<latest.size, using: &generator)
    totalHashes += try prover.tree.consistencyProof(oldSize: old, newSize: latest.size).count
}
let consistencyTime = seconds(ContinuousClock.now - consistencyStart) / Double(proofs)
let fullStart = ContinuousClock.now
let tlog = try prover.inclusionProof(index: latest.size / 2)
let fullTime = seconds(ContinuousClock.now - fullStart)
try ProofChecker.verify(tlog, keys: [signer.verifierKey])
print(String(format: "proofs at %d leaves: load tree %.3f s; inclusion %.1f us; consistency %.1f us (mean of %d); one tlog-proof incl. reading the record %.1f ms",
    latest.size, loadTime, inclusionTime * 1e6, consistencyTime * 1e6, proofs, fullTime * 1e3))
_ = totalHashes
if !options.keep { fresh(options.directory) }
