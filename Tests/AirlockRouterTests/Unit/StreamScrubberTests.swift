import Testing

@testable import AirlockRouter

/// The answer body of an inspected host is masked as it streams: a secret split across pieces is masked as if the
/// body had come whole, and the length never changes.
@Suite("Stream scrubber")
struct StreamScrubberTests {
    static let secret = "ghp-0123456789abcdefXYZ"

    static func scrubbed(_ pieces: [String]) throws -> String {
        var stream = StreamScrubber(scrubbers: [try #require(KeyScrubber(secret: secret))])
        var out: [UInt8] = []
        for piece in pieces { out += stream.feed(Array(piece.utf8)) }
        out += stream.finish()
        return String(decoding: out, as: UTF8.self)
    }

    @Test("the secret and its fragments are masked wherever the body is cut", arguments: [1, 2, 3, 5, 7, 11, 64])
    func cuts(size: Int) throws {
        let body = "token: \(Self.secret)\nmasked: ghp-****XYZ\nglued:x\(Self.secret)y\nfragment: 0123456789abcdef\nplain text stays\n"
        var pieces: [String] = []
        var rest = Substring(body)
        while !rest.isEmpty {
            pieces.append(String(rest.prefix(size)))
            rest = rest.dropFirst(size)
        }
        let out = try Self.scrubbed(pieces)
        var whole = Array(body.utf8)
        try #require(KeyScrubber(secret: Self.secret)).scrub(&whole)
        #expect(out == String(decoding: whole, as: UTF8.self))
        #expect(out.utf8.count == body.utf8.count)
        #expect(!out.contains(Self.secret) && !out.contains("0123456789abcdef"))
        #expect(out.contains("plain text stays"))
    }

    @Test("without a secret, bytes pass at once; a run longer than the hold limit is passed on, scrubbed")
    func passThrough() throws {
        var none = StreamScrubber(scrubbers: [])
        #expect(none.feed(Array("abc".utf8)) == Array("abc".utf8))
        var stream = StreamScrubber(scrubbers: [try #require(KeyScrubber(secret: Self.secret))])
        let long = [UInt8](repeating: UInt8(ascii: "a"), count: StreamScrubber.maxHeld + 10)
        #expect(stream.feed(long).count == long.count)
        #expect(stream.finish().isEmpty)
    }
}
