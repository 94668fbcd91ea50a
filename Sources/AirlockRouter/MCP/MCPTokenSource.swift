import AirlockJSON
import AirlockPolicy
import AirlockReceipts
import NIOCore
import NIOHTTP1

/// The access token of one MCP server whose `oauth` grant the router runs: fetched from the token endpoint with the
/// project's upstream client (TLS verified, no redirects), cached until shortly before it expires, and fetched once
/// for all the requests that need it at the same time.
actor MCPTokenSource {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private struct Token {
        let value: String
        /// When to fetch a new one: before the token expires, by a tenth of its life (at most 30 s).
        let renewAt: ContinuousClock.Instant
    }

    /// The largest token answer read.
    static let maxAnswerBytes = 64 << 10

    private let oauth: MCPOAuth
    /// The server's URL, sent as `resource` (RFC 8707).
    private let resource: String
    private let origin: UpstreamOrigin
    private let target: String
    private let timeouts: UpstreamTimeouts
    private let clientSecret: String?
    private var refreshToken: String?
    private var token: Token?
    private var fetching: Task<Token, any Error>?

    init(
        oauth: MCPOAuth, url: UpstreamURL, resource: String, caFile: String?, timeouts: UpstreamTimeouts,
        clientSecret: String?, refreshToken: String?
    ) {
        self.oauth = oauth
        self.resource = resource
        origin = UpstreamOrigin(
            tls: url.tls, host: url.host, port: url.port, caFile: caFile, connectTimeout: timeouts.connect.nanoseconds)
        target = url.pathPrefix.isEmpty ? "/" : url.pathPrefix
        self.timeouts = timeouts
        self.clientSecret = clientSecret
        self.refreshToken = refreshToken
    }

    /// A valid access token; a new one when the cached one is due or is `rejected` (the server answered 401 to it).
    func bearer(client: UpstreamHTTPClient, on loop: any EventLoop, rejected: String? = nil) async throws -> String {
        if let token, token.value != rejected, ContinuousClock.now < token.renewAt {
            return token.value
        }
        if let fetching {
            return try await fetching.value.value
        }
        let task = Task { try await self.fetch(client: client, on: loop) }
        fetching = task
        defer { fetching = nil }
        let fresh = try await task.value
        token = fresh
        return fresh.value
    }

    private func fetch(client: UpstreamHTTPClient, on loop: any EventLoop) async throws -> Token {
        var form: [(String, String)] = [("grant_type", oauth.grant.rawValue)]
        if oauth.grant == .refreshToken, let refreshToken {
            form.append(("refresh_token", refreshToken))
        }
        form.append(("resource", resource))
        if let scope = oauth.scope { form.append(("scope", scope)) }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/x-www-form-urlencoded")
        headers.add(name: "accept", value: "application/json")
        if let clientSecret {
            // RFC 6749 section 2.3.1: id and secret form-encoded, then joined and base64-encoded.
            let pair = Self.formEncode(oauth.clientID) + ":" + Self.formEncode(clientSecret)
            headers.add(name: "authorization", value: "Basic " + Base64.encode(Array(pair.utf8)))
        } else {
            form.append(("client_id", oauth.clientID))
        }
        let body = form.map { Self.formEncode($0.0) + "=" + Self.formEncode($0.1) }.joined(separator: "&")
        let started = ContinuousClock.now
        let (head, exchange) = try await client.execute(
            UpstreamRequest(target: target, headers: headers, body: ByteBuffer(string: body)),
            origin: origin,
            on: loop,
            headDeadline: .now() + .nanoseconds(timeouts.responseHeaders.nanoseconds),
            readTimeout: .nanoseconds(timeouts.idle.nanoseconds)
        )
        let collector = BodyCollector(limit: Self.maxAnswerBytes)
        try await withTaskCancellationHandler {
            try await loop.flatSubmit { exchange.collect(into: collector) }.get()
        } onCancel: {
            exchange.loop.execute { exchange.abort() }
        }
        guard head.status == .ok else {
            throw Failure(description: "the token endpoint answered \(head.status.code)")
        }
        guard let bytes = collector.bytes else {
            throw Failure(description: "the token endpoint's answer is longer than \(Self.maxAnswerBytes) bytes")
        }
        let scanner = JSONScanner(bytes)
        guard let root = try? scanner.validateDocument(), root.kind == .object,
            let value = scanner.value(of: root, key: "access_token").flatMap(scanner.string), !value.isEmpty,
            value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else {
            throw Failure(description: "the token endpoint's answer has no usable access_token")
        }
        if let type = scanner.value(of: root, key: "token_type").flatMap(scanner.string), type.lowercased() != "bearer"
        {
            throw Failure(description: "the token endpoint issued a \(type.prefix(32)) token, not a bearer token")
        }
        if let rotated = scanner.value(of: root, key: "refresh_token").flatMap(scanner.string), !rotated.isEmpty {
            refreshToken = rotated
        }
        // Without expires_in the token is used until the server refuses it (then one new one is fetched).
        let lifetime =
            scanner.value(of: root, key: "expires_in").flatMap(scanner.integer).map { min(max($0, 0), 86_400 * 365) }
            ?? 3600
        let early = min(Duration.seconds(30), .milliseconds(lifetime * 100))
        return Token(value: value, renewAt: started + .seconds(lifetime) - early)
    }

    /// `application/x-www-form-urlencoded` of one name or value: unreserved characters as they are, the rest %XX.
    static func formEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out +=
                    "%" + String(byte >> 4, radix: 16, uppercase: true)
                    + String(byte & 0x0F, radix: 16, uppercase: true)
            }
        }
        return out
    }
}

/// Keeps a body up to `limit` bytes; `bytes` is nil past it.
final class BodyCollector: UpstreamBodyObserver, @unchecked Sendable {
    private let limit: Int
    private var kept: [UInt8] = []
    private var tooLong = false

    init(limit: Int) {
        self.limit = limit
    }

    var bytes: [UInt8]? { tooLong ? nil : kept }

    func pass(_ chunk: ByteBuffer) -> ByteBuffer? {
        if !tooLong {
            if kept.count + chunk.readableBytes > limit {
                tooLong = true
                kept = []
            } else {
                kept.append(contentsOf: chunk.readableBytesView)
            }
        }
        return nil
    }

    func finish() -> ByteBuffer? { nil }
}
