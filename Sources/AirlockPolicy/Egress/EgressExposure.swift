/// One way an egress allow entry lets a sandbox reach one of the router's own endpoints.
public struct EgressExposure: Sendable, Equatable {
    /// The index of the entry in `allow`.
    public var entry: Int
    public var endpoint: RouterEndpoint
    /// How the proxy would get there, e.g. `router.egress.resolve maps mirror.test to 127.0.0.1`.
    public var route: String

    /// The route of an entry that matches an upstream's own host name.
    public static let namesUpstream = "it names the upstream's host"
}

extension EgressPolicy {
    /// Every router endpoint each `allow` entry lets the sandbox reach, judged the way the proxy decides: the
    /// entry's host and port, the deny list, `router.egress.resolve`, and the address check with
    /// `allow_addresses`. A name the resolve map does not fix is looked up in DNS at run time, so it is taken to
    /// reach any address `allow_addresses` admits; public addresses a DNS name may return are not known here (the
    /// proxy refuses the router's own endpoints at run time too). An endpoint on a port the kernel picks counts as
    /// reached only by an entry with port `*`.
    public func exposures(of endpoints: [RouterEndpoint], resolve: [String: String]) -> [EgressExposure] {
        let rules = EgressRules(self)
        var fixed: [String: IPAddress] = [:]
        for (name, address) in resolve {
            if let parsed = IPAddress.parse(address) { fixed[name.lowercased()] = parsed }
        }
        let admitted = allowAddresses.compactMap(IPAddress.parse)
        var found: [EgressExposure] = []
        for (index, entry) in allow.enumerated() {
            guard case .success(let pattern) = HostPattern.parse(entry) else { continue }
            for endpoint in endpoints {
                if let port = pattern.port, port != endpoint.port { continue }
                let port = pattern.port ?? endpoint.port
                if let route = Self.route(pattern, port, endpoint, rules, fixed, admitted) {
                    found.append(EgressExposure(entry: index, endpoint: endpoint, route: route))
                }
            }
        }
        return found
    }

    private static func route(
        _ pattern: HostPattern,
        _ port: Int?,
        _ endpoint: RouterEndpoint,
        _ rules: EgressRules,
        _ fixed: [String: IPAddress],
        _ admitted: [IPAddress]
    ) -> String? {
        func denied(_ host: EgressTarget.Host) -> Bool {
            rules.deny.contains { deny in
                if let denyPort = deny.port, denyPort != port { return false }
                return deny.matches(EgressTarget(host: host, port: port ?? deny.port ?? 1))
            }
        }
        switch pattern.host {
        case .address(let address):
            guard !denied(.address(address)), rules.check(address) == .allowed,
                endpoint.isReached(by: address, port: port)
            else { return nil }
            return "the address \(address)\(Self.admission(address))"
        case .exact, .subdomains:
            // Names the proxy resolves from configuration: the endpoint's own host name, and the resolve map.
            var names = fixed.keys.sorted()
            if case .name(let own) = endpoint.host, fixed[own] == nil { names.insert(own, at: 0) }
            for name in names where pattern.matches(EgressTarget(host: .name(name), port: port ?? 1)) {
                guard !denied(.name(name)) else { continue }
                if let address = fixed[name] {
                    if rules.check(address) == .allowed, endpoint.isReached(by: address, port: port) {
                        return "router.egress.resolve maps \(name) to \(address)\(Self.admission(address))"
                    }
                } else if endpoint.isNamed(name, port: port) {
                    return EgressExposure.namesUpstream
                }
            }
            // Any other name is resolved by DNS at run time, whose answer may be any address allow_addresses admits.
            switch pattern.host {
            case .exact(let name) where fixed[name] != nil || denied(.name(name)): return nil
            case .subdomains(let suffix) where Self.denyCovers(suffix, port, rules): return nil
            default: break
            }
            guard let address = admitted.first(where: { endpoint.isReached(by: $0, port: port) }) else { return nil }
            return "a DNS answer of \(address), which allow_addresses admits"
        }
    }

    private static func admission(_ address: IPAddress) -> String {
        address.restriction == nil ? "" : ", which allow_addresses admits"
    }

    /// Whether a deny entry refuses every name below `suffix` on `port`.
    private static func denyCovers(_ suffix: String, _ port: Int?, _ rules: EgressRules) -> Bool {
        rules.deny.contains { deny in
            if let denyPort = deny.port, denyPort != port { return false }
            guard case .subdomains(let denied) = deny.host else { return false }
            return suffix == denied || suffix.hasSuffix("." + denied)
        }
    }
}
