import Foundation
import Testing

@testable import AirlockReceipts

/// A fresh empty directory under the system temporary directory.
func makeTemporaryDirectory(_ label: String = "receipts") -> String {
    var template = Array((NSTemporaryDirectory() + "/airlock-\(label)-XXXXXX").utf8CString)
    let path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(path != nil, "mkdtemp failed")
    return String(cString: path!)
}

func removeDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

let testOrigin = "test.airlock/receipts"

/// Deterministic signing keys (Ed25519 from fixed seeds).
func testSigner(_ seed: UInt8 = 1, name: String = testOrigin) -> CheckpointSigner {
    try! CheckpointSigner(name: name, seed: Array(repeating: seed, count: 32))
}

/// A configuration with small checkpoints so that tests see several.
func testConfiguration(
    _ directory: String,
    signers: [CheckpointSigner] = [testSigner()],
    everyRecords: UInt64 = 5,
    segmentBytes: Int = 64 << 20
) -> ReceiptLog.Configuration {
    var configuration = ReceiptLog.Configuration(
        directory: directory,
        origin: testOrigin,
        signers: signers,
        checkpoints: CheckpointPolicy(everyRecords: everyRecords, interval: .seconds(60)),
        segmentBytes: segmentBytes
    )
    let counter = Counter()
    configuration.wallClock = { 1_700_000_000_000_000_000 + counter.next() * 1_000 }
    return configuration
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64 = 0

    func next() -> Int64 {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}

func sampleReceipt(_ number: Int, sandbox: String = "agent-1") -> Receipt {
    Receipt(
        kind: number % 2 == 0 ? .request : .completion,
        time: 1_700_000_000_000_000_000 + Int64(number),
        sandbox: sandbox,
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
        tokensIn: 12,
        tokensOut: 34,
        latencyMicroseconds: 5_600,
        traceID: "4bf92f3577b34da6a3ce929d0e0e4736",
        requestIndex: number % 2 == 0 ? nil : UInt64(number - 1)
    )
}

/// Creates a closed log of `count` sample records (plus the admin record at index 0).
@discardableResult
func makeLog(
    _ directory: String,
    count: Int,
    signers: [CheckpointSigner] = [testSigner()],
    everyRecords: UInt64 = 5,
    sandbox: String = "agent-1"
) async throws -> UInt64 {
    let log = try await ReceiptLog.open(testConfiguration(directory, signers: signers, everyRecords: everyRecords))
    for number in 0..<count { _ = try await log.append(sampleReceipt(number, sandbox: sandbox)) }
    let size = log.durableSize
    try await log.close()
    return size
}

/// The frames of a segment file: (offset of the header, end of the frame).
func frames(of path: String) -> [(offset: Int, leaf: Range<Int>, end: Int)] {
    let bytes = [UInt8](FileManager.default.contents(atPath: path)!)
    var result: [(Int, Range<Int>, Int)] = []
    var offset = 0
    while case .frame(let frame) = bytes.withUnsafeBytes({ Frame.parse($0, at: offset) }) {
        result.append((frame.offset, frame.leaf, frame.end))
        offset = frame.end
    }
    return result
}

func segmentPath(_ directory: String, first: UInt64 = 0) -> String {
    directory + "/" + SegmentName(firstIndex: first).fileName
}

func readBytes(_ path: String) -> [UInt8] {
    [UInt8](FileManager.default.contents(atPath: path) ?? Data())
}

func writeBytes(_ bytes: [UInt8], to path: String) {
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
}

/// Directory of the test bundle's executable, where SwiftPM also puts the package's other executables.
func productsDirectory() -> String {
    let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        ?? CommandLine.arguments[0]
    var directory = (executable as NSString).deletingLastPathComponent
    // On Darwin the bundle is `X.xctest/Contents/MacOS/X`.
    while directory.hasSuffix(".xctest") || directory.hasSuffix("Contents") || directory.hasSuffix("MacOS") {
        directory = (directory as NSString).deletingLastPathComponent
    }
    return directory
}
