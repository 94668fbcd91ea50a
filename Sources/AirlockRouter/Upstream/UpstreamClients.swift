import AirlockPolicy
import AsyncHTTPClient
import NIOCore
import NIOSSL

/// The pooled HTTP clients for upstream calls: one per distinct (connect timeout, idle timeout, CA file),
/// which in the common configuration is exactly one shared client. Redirects are never followed; TLS is
/// verified against the system roots or the configured CA bundle.
final class UpstreamClients: Sendable {
    struct Profile: Hashable {
        var connect: ConfigDuration
        var idle: ConfigDuration
        var caFile: String?
    }

    private let clients: [Profile: HTTPClient]

    init(upstreams: [UpstreamConfig], group: any EventLoopGroup) throws {
        var clients: [Profile: HTTPClient] = [:]
        for upstream in upstreams {
            let profile = Profile(connect: upstream.timeouts.connect, idle: upstream.timeouts.idle, caFile: upstream.caFile)
            guard clients[profile] == nil else { continue }
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .fullVerification
            tls.minimumTLSVersion = .tlsv12
            if let caFile = upstream.caFile {
                tls.trustRoots = .file(caFile)
            }
            var configuration = HTTPClient.Configuration(
                tlsConfiguration: tls,
                redirectConfiguration: .disallow,
                timeout: .init(connect: .nanoseconds(profile.connect.nanoseconds), read: .nanoseconds(profile.idle.nanoseconds)),
                decompression: .disabled
            )
            configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
            configuration.httpVersion = .automatic
            clients[profile] = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
        }
        self.clients = clients
    }

    func client(for upstream: UpstreamConfig) -> HTTPClient {
        clients[Profile(connect: upstream.timeouts.connect, idle: upstream.timeouts.idle, caFile: upstream.caFile)]!
    }

    func shutdown() async {
        for client in clients.values {
            try? await client.shutdown()
        }
    }
}
