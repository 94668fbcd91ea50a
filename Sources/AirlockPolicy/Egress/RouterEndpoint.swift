/// An address and port the router itself listens on or connects to. No sandbox may reach one through the
/// egress proxy: through the proxy a connection comes from the router's own UID, which the operator listener
/// answers, and an upstream reached directly bypasses admission (a test upstream even shows what it was sent).
public struct RouterEndpoint: Sendable, Hashable, CustomStringConvertible {
    public enum Host: Sendable, Hashable {
        case address(IPAddress)
        /// An upstream's host name; `localhost` and names under `.localhost` are loopback (RFC 6761).
        case name(String)
    }

    public var host: Host
    /// nil: the kernel chooses the port at start (`:0`).
    public var port: Int?
    /// What it is, for messages: `the upstream "openai"`, `the operator listener router.listeners[2]`.
    public var role: String

    public init(host: Host, port: Int?, role: String) {
        self.host = host
        self.port = port
        self.role = role
    }

    public var description: String {
        let h: String
        switch host {
        case .address(.v6(let b)): h = "[\(IPAddress.v6(b))]"
        case .address(let a): h = a.description
        case .name(let n): h = n
        }
        return (port.map { "\(h):\($0)" } ?? "\(h) (on the port the kernel picks)") + ", " + role
    }

    /// The host name, when the endpoint is an upstream named by one.
    public var hostName: String? {
        if case .name(let name) = host { return name }
        return nil
    }

    /// Whether a connection to `address` on `port` would reach this endpoint (`port` nil: some port).
    public func isReached(by address: IPAddress, port: Int?) -> Bool {
        guard portMatches(port) else { return false }
        switch host {
        case .address(let own): return address.reaches(own)
        case .name(let name): return Self.isLoopbackName(name) && address.isLoopbackDestination
        }
    }

    /// Whether an egress target naming `name` on `port` is this endpoint by name (before any resolution).
    public func isNamed(_ name: String, port: Int?) -> Bool {
        guard portMatches(port), case .name(let own) = host else { return false }
        return own == name
    }

    private func portMatches(_ other: Int?) -> Bool {
        guard let port, let other else { return true }
        return port == other
    }

    static func isLoopbackName(_ name: String) -> Bool {
        name == "localhost" || name.hasSuffix(".localhost")
    }
}

extension AirlockConfig {
    /// Every TCP address and port this configuration makes the router listen on or connect to: its listeners of
    /// every role, and its upstreams. Unix sockets and handed-in listeners are not reachable through the proxy.
    public var routerEndpoints: [RouterEndpoint] {
        var endpoints: [RouterEndpoint] = []
        for (i, listener) in router.listeners.enumerated() {
            guard case .tcp(let host, let port) = listener.kind, let address = IPAddress.parse(host) else { continue }
            endpoints.append(.listener(listener, index: i, address: address, port: port == 0 ? nil : port))
        }
        return endpoints + upstreamEndpoints
    }

    /// The address and port of every upstream, by host name when `base_url` names one.
    public var upstreamEndpoints: [RouterEndpoint] {
        upstreams.compactMap { upstream in
            guard case .success(let url) = UpstreamURL.parse(upstream.baseURL) else { return nil }
            let host: RouterEndpoint.Host = IPAddress.parse(url.host).map { .address($0) } ?? .name(url.host)
            return RouterEndpoint(host: host, port: url.port, role: "the upstream \"\(upstream.name)\"")
        }
    }
}

extension RouterEndpoint {
    /// The listener `router.listeners[index]` at an address and port (nil: the kernel picks it).
    public static func listener(_ listener: ListenerConfig, index: Int, address: IPAddress, port: Int?)
        -> RouterEndpoint
    {
        let role: String
        switch listener.role {
        case .inference: role = "the router's listener router.listeners[\(index)]"
        case .egress: role = "the egress proxy's own listener router.listeners[\(index)]"
        case .operator: role = "the operator listener router.listeners[\(index)]"
        }
        return RouterEndpoint(host: .address(address), port: port, role: role)
    }
}
