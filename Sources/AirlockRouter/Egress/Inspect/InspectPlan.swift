import AirlockPolicy
import AirlockReceipts
import NIOSSL

/// What the proxy does for one inspected host of one sandbox: the rules, the header it adds, what it scrubs from
/// answers, and how it verifies the real host.
struct InspectPlan: Sendable {
    let sandbox: String
    /// The entry's position in `egress.inspect`, for receipts and refusals.
    let index: Int
    let entry: EgressInspect
    /// `Authorization` value added to each allowed request; nil when the entry injects no credential.
    let authorization: String?
    /// One scrubber per form of the secret an answer might echo.
    let scrubbers: [KeyScrubber]
    let client: NIOSSLContext

    /// Keys of ``EgressProxy/credentials``: which sandbox's entry a credential belongs to.
    static func credentialKey(sandbox: String, index: Int) -> String {
        "sandboxes[\(sandbox)].egress.inspect[\(index)].credential"
    }

    static func make(sandbox: String, index: Int, entry: EgressInspect, credential: Credential?) throws -> InspectPlan {
        var authorization: String?
        var scrubbers: [KeyScrubber] = []
        if let credential, let scheme = entry.credential?.scheme {
            switch scheme {
            case .bearer:
                authorization = "Bearer " + credential.secret
                scrubbers = [KeyScrubber(secret: credential.secret)].compactMap { $0 }
            case .basic:
                let token = Base64.encode(Array(credential.secret.utf8))
                authorization = "Basic " + token
                let password = credential.secret.split(separator: ":", maxSplits: 1).dropFirst().first.map(String.init)
                scrubbers = [KeyScrubber(secret: token), password.flatMap { KeyScrubber(secret: $0) }].compactMap { $0 }
            }
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .fullVerification
        tls.applicationProtocols = ["http/1.1"]
        tls.minimumTLSVersion = .tlsv12
        if let caFile = entry.caFile {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        }
        return InspectPlan(
            sandbox: sandbox, index: index, entry: entry, authorization: authorization, scrubbers: scrubbers,
            client: try NIOSSLContext(configuration: tls)
        )
    }
}

/// Scrubs a body that arrives in pieces: ``KeyScrubber`` judges runs of key characters, so everything up to the
/// last byte that cannot be part of a run is final and is passed on; the open run at the end is held back until the
/// next piece (or the end) decides it. A run longer than `maxHeld` is scrubbed and passed on as it is.
struct StreamScrubber {
    let scrubbers: [KeyScrubber]
    private var held: [UInt8] = []
    static let maxHeld = 64 << 10

    init(scrubbers: [KeyScrubber]) {
        self.scrubbers = scrubbers
    }

    /// The bytes that can be passed on now.
    mutating func feed(_ chunk: [UInt8]) -> [UInt8] {
        held.append(contentsOf: chunk)
        guard !scrubbers.isEmpty else { return take(held.count) }
        var cut = held.count
        while cut > 0, KeyScrubber.isKeyByte(held[cut - 1]) { cut -= 1 }
        if held.count - cut > Self.maxHeld { cut = held.count }
        return take(cut)
    }

    /// What is left, at the end of the body.
    mutating func finish() -> [UInt8] {
        take(held.count)
    }

    private mutating func take(_ count: Int) -> [UInt8] {
        var out = Array(held[..<count])
        held.removeFirst(count)
        for scrubber in scrubbers { scrubber.scrub(&out) }
        return out
    }
}
