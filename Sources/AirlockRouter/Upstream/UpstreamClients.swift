import AirlockPolicy
import AsyncHTTPClient
import NIOCore
import NIOSSL

/// The pooled HTTP clients for upstream calls: one per distinct (connect timeout, idle timeout, CA file),
/// which in the common configuration is exactly one shared client, kept across configuration reloads.
/// Redirects are never followed; TLS is verified against the system roots or the configured CA bundle;
/// proxy environment variables are never consulted.
final class UpstreamClients: Sendable {
    struct Profile: Hashable {
        var connect: ConfigDuration
        var idle: ConfigDuration
        var caFile: String?
    }

    private let clients = Locked<[Profile: HTTPClient]>([:])
    private let group: any EventLoopGroup

    init(group: any EventLoopGroup) {
        self.group = group
    }

    func client(for upstream: UpstreamConfig) -> HTTPClient {
        let profile = Profile(connect: upstream.timeouts.connect, idle: upstream.timeouts.idle, caFile: upstream.caFile)
        let group = self.group
        return clients.withLock { clients in
            if let existing = clients[profile] { return existing }
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
            let client = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
            clients[profile] = client
            return client
        }
    }

    func shutdown() async {
        let all = clients.withLock { Array($0.values) }
        for client in all {
            try? await client.shutdown()
        }
    }
}
