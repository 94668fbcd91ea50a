#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy
import AirlockReceipts

/// The router's receipts, written to the signed, append-only receipt log.
public final class ReceiptLogSink: ReceiptSink {
    public let log: ReceiptLog
    private let digest: Locked<String>

    /// Opens (and recovers) the log configured in `settings`. Signing keys are read here, before the router
    /// drops privileges.
    public static func open(_ settings: ReceiptSettings, policyDigest: String) async throws -> ReceiptLogSink {
        var signers: [CheckpointSigner] = []
        for path in settings.signingKeys {
            signers.append(try CheckpointSigner(contentsOfFile: path))
        }
        var previous: [NoteVerifierKey] = []
        for path in settings.previousKeys {
            guard let bytes = try DurableFile.read(path, limit: 64 << 10) else {
                throw SystemCallError(call: "open", subject: "receipts.previous_keys entry \(path)", errno: ENOENT)
            }
            previous.append(try NoteVerifierKey(text: String(decoding: bytes, as: UTF8.self).trimmingWhitespace()))
        }
        let durability: Durability =
            settings.durability == .sync ? .sync : .batched(maxDelay: settings.batchDelay.duration)
        let log = try await ReceiptLog.open(
            ReceiptLog.Configuration(
                directory: settings.directory,
                origin: settings.origin,
                signers: signers,
                trustedKeys: previous,
                durability: durability,
                checkpoints: CheckpointPolicy(
                    everyRecords: UInt64(settings.checkpointEvery),
                    interval: settings.checkpointInterval.duration
                )
            )
        )
        return ReceiptLogSink(log: log, policyDigest: policyDigest)
    }

    init(log: ReceiptLog, policyDigest: String) {
        self.log = log
        self.digest = Locked(policyDigest)
    }

    public func append(_ receipt: Receipt) async throws -> UInt64 {
        var receipt = receipt
        receipt.policyDigest = digest.withLock { $0 }
        return try await log.append(receipt)
    }

    /// The digest of the configuration now in force (after a reload).
    public func setPolicyDigest(_ value: String) {
        digest.withLock { $0 = value }
    }

    public func bodyHasher() -> BodyHasher? {
        log.bodyKey.hasher()
    }

    public func close() async throws {
        try await log.close()
    }
}
