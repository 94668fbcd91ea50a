// Test helper for the crash-safety tests: appends receipts from several concurrent tasks and prints each
// acknowledged index on its own line, flushed at once, so that a parent that SIGKILLs this process knows exactly
// which appends were acknowledged.
//
//     airlock-receipts-writer DIR KEYFILE [--writers N] [--count N] [--fsize-limit BYTES] [--batched]

import AirlockReceipts
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

struct Options {
    var directory = ""
    var keyFile = ""
    var writers = 8
    var count = Int.max
    var fsizeLimit: UInt64?
    var batched = false

    init(_ arguments: [String]) {
        var rest = arguments[...]
        var positional: [String] = []
        while let argument = rest.popFirst() {
            switch argument {
            case "--writers": writers = Int(rest.popFirst() ?? "") ?? writers
            case "--count": count = Int(rest.popFirst() ?? "") ?? count
            case "--fsize-limit": fsizeLimit = UInt64(rest.popFirst() ?? "")
            case "--batched": batched = true
            default: positional.append(argument)
            }
        }
        guard positional.count == 2 else {
            FileHandle.standardError.write(Data("usage: airlock-receipts-writer DIR KEYFILE [options]\n".utf8))
            exit(2)
        }
        directory = positional[0]
        keyFile = positional[1]
    }
}

/// Serialises stdout lines so that concurrent writers never interleave within a line.
final class Output: @unchecked Sendable {
    private let lock = NSLock()

    func line(_ text: String) {
        lock.lock()
        defer { lock.unlock() }
        var bytes = Array((text + "\n").utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress! + done, $0.count - done) }
            if n <= 0 { return }
            done += n
        }
        bytes.removeAll()
    }
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
if let limit = options.fsizeLimit {
    signal(SIGXFSZ, SIG_IGN)
    var value = rlimit(rlim_cur: rlim_t(limit), rlim_max: rlim_t(limit))
    setrlimit(Int32(RLIMIT_FSIZE.rawValue), &value)
}

let output = Output()
do {
    let signer = try CheckpointSigner(contentsOfFile: options.keyFile)
    let log = try await ReceiptLog.open(
        .init(
            directory: options.directory,
            origin: "test.airlock/crash",
            signers: [signer],
            durability: options.batched ? .batched(maxDelay: .milliseconds(5)) : .sync,
            checkpoints: CheckpointPolicy(everyRecords: 200, interval: .milliseconds(50)),
            segmentBytes: 64 * 1024
        )
    )
    if let torn = log.recovery.tornFrame {
        output.line("recovered cut=\(torn.bytesCut) index=\(torn.index)")
    }
    output.line("opened size=\(log.recovery.size)")
    let perWriter = options.count == Int.max ? Int.max : max(1, options.count / options.writers)
    let failures = await withTaskGroup(of: Int.self) { group in
        for writer in 0..<options.writers {
            group.addTask {
                var number = 0
                while number < perWriter {
                    let receipt = Receipt(
                        kind: .request,
                        sandbox: "writer-\(writer)",
                        tenant: "crash-test",
                        route: "chat",
                        decision: "allow",
                        status: 200,
                        attempts: Int64(number)
                    )
                    do {
                        let index = try await log.append(receipt)
                        output.line("ack \(index)")
                    } catch {
                        output.line("error \(error)")
                        return 1
                    }
                    number += 1
                }
                return 0
            }
        }
        var total = 0
        for await result in group { total += result }
        return total
    }
    try await log.close()
    output.line("closed")
    exit(failures == 0 ? 0 : 3)
} catch {
    output.line("error \(error)")
    exit(1)
}
