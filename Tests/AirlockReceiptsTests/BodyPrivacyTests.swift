import Crypto
import Foundation
import Testing

@testable import AirlockReceipts

@Suite("No prompt or completion text under the log directory")
struct BodyPrivacyTests {
    /// Every file under `directory` that contains `needle`.
    static func filesContaining(_ needle: [UInt8], under directory: String) -> [String] {
        var hits: [String] = []
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let relative = enumerator?.nextObject() as? String {
            let path = directory + "/" + relative
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
                continue
            }
            let bytes = readBytes(path)
            if bytes.count >= needle.count, (0...(bytes.count - needle.count)).contains(where: { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }) {
                hits.append(relative)
            }
        }
        return hits
    }

    @Test("a unique marker sent as request and response bodies appears in no file; its HMAC does")
    func marker() async throws {
        let directory = makeTemporaryDirectory("privacy")
        defer { removeDirectory(directory) }
        let marker = "AIRLOCK-MARKER-\(UUID().uuidString)-do-not-log"
        let prompt = Array("{\"messages\":[{\"role\":\"user\",\"content\":\"\(marker)\"}]}".utf8)
        let completion = Array("data: {\"choices\":[{\"delta\":{\"content\":\"\(marker)\"}}]}\n\n".utf8)

        let log = try await ReceiptLog.open(testConfiguration(directory))
        // The request body digested in one piece, the streamed response chunk by chunk.
        let requestDigest = log.bodyKey.digest(prompt)
        var streaming = log.bodyKey.hasher()
        for chunk in stride(from: 0, to: completion.count, by: 7) {
            streaming.update(Array(completion[chunk..<min(chunk + 7, completion.count)]))
        }
        let responseDigest = streaming.finalize()
        let request = try await log.append(Receipt(kind: .request, sandbox: "agent", requestHMAC: requestDigest))
        _ = try await log.append(
            Receipt(kind: .completion, status: 200, requestHMAC: requestDigest, responseHMAC: responseDigest, requestIndex: request)
        )
        // The record type refuses a body-sized string in any field.
        let smuggled = Receipt(kind: .request, reason: String(repeating: marker, count: 20))
        await #expect(throws: ReceiptLogError.self) { try await log.append(smuggled) }
        try await log.close()

        // The digests are HMAC-SHA256 under the key stored beside the log (mode 0600).
        let keyPath = directory + "/" + BodyKey.fileName
        #expect(FileSystem.mode(of: keyPath) == 0o600)
        let key = SymmetricKey(data: readBytes(keyPath))
        #expect(requestDigest.bytes == Array(HMAC<SHA256>.authenticationCode(for: prompt, using: key)))
        #expect(responseDigest.bytes == Array(HMAC<SHA256>.authenticationCode(for: completion, using: key)))
        #expect(Self.filesContaining(Array(responseDigest.hex.utf8), under: directory).count >= 1)

        // Not vacuous: the search does find the marker when a file holds it.
        writeBytes(prompt, to: directory + "/control.txt")
        #expect(Self.filesContaining(Array(marker.utf8), under: directory) == ["control.txt"])
        try FileManager.default.removeItem(atPath: directory + "/control.txt")

        #expect(Self.filesContaining(Array(marker.utf8), under: directory).isEmpty)
        #expect(Self.filesContaining(Array(marker.prefix(20).utf8), under: directory).isEmpty)
        let export = try LogReader(directory: directory).entry(at: 2)
        #expect(export?["response_hmac"]?.stringValue == responseDigest.hex)
        #expect(export?["request_index"] == .integer(1))
    }
}
