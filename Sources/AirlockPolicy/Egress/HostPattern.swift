/// One entry of an egress allow or deny list: `host`, `host:port`, `host:*`, `*.suffix`, `*.suffix:port`, an
/// IPv4 literal or a bracketed IPv6 literal with a port. A bare host means port 443.
public struct HostPattern: Sendable, Hashable, CustomStringConvertible {
    public enum Host: Sendable, Hashable {
        case exact(String)
        /// Any name strictly below this suffix (`*.github.com` matches `api.github.com`, not `github.com`).
        case subdomains(String)
        case address(IPAddress)
    }

    public var host: Host
    /// nil: any port.
    public var port: Int?

    public var description: String {
        let h: String
        switch host {
        case .exact(let name): h = name
        case .subdomains(let suffix): h = "*." + suffix
        case .address(.v6(let b)): h = "[\(IPAddress.v6(b))]"
        case .address(let a): h = a.description
        }
        return h + ":" + (port.map(String.init) ?? "*")
    }

    /// Parses a pattern; the error says what is wrong with it.
    public static func parse(_ text: String) -> Result<HostPattern, PatternError> {
        var hostPart: Substring
        var portPart: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return .failure(PatternError(text, "an IPv6 literal needs a closing ]")) }
            hostPart = text[...close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return .failure(PatternError(text, "expected :PORT after the IPv6 literal")) }
                portPart = rest.dropFirst()
            }
        } else if let colon = text.lastIndex(of: ":") {
            guard !text[..<colon].contains(":") else {
                return .failure(PatternError(text, "write IPv6 literals in brackets, e.g. [2001:db8::1]:443"))
            }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        } else {
            hostPart = Substring(text)
        }
        var port: Int? = 443
        if let portPart {
            if portPart == "*" {
                port = nil
            } else if let p = Int(portPart), (1...65535).contains(p) {
                port = p
            } else {
                return .failure(PatternError(text, "\"\(portPart)\" is not a port from 1 to 65535 or *"))
            }
        }
        if let address = IPAddress.parse(String(hostPart)) {
            return .success(HostPattern(host: .address(address), port: port))
        }
        var name = hostPart.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        if name.hasPrefix("*.") {
            let suffix = String(name.dropFirst(2))
            guard HostName.isValid(suffix), suffix.contains(".") else {
                return .failure(PatternError(text, "a wildcard needs a domain with at least two labels after *."))
            }
            return .success(HostPattern(host: .subdomains(suffix), port: port))
        }
        guard HostName.isValid(name) else {
            return .failure(PatternError(text, "\"\(hostPart)\" is not a host name (letters, digits, '-' and '.', ASCII only)"))
        }
        return .success(HostPattern(host: .exact(name), port: port))
    }

    /// Whether a normalized target matches.
    /// Whether every target `other` matches is matched by this pattern too.
    public func covers(_ other: HostPattern) -> Bool {
        if let port, port != other.port { return false }
        switch (host, other.host) {
        case (.exact(let a), .exact(let b)): return a == b
        case (.subdomains(let s), .exact(let name)): return name.hasSuffix("." + s)
        case (.subdomains(let s), .subdomains(let t)): return t == s || t.hasSuffix("." + s)
        case (.address(let a), .address(let b)): return a == b
        default: return false
        }
    }

    public func matches(_ target: EgressTarget) -> Bool {
        if let port, port != target.port { return false }
        switch (host, target.host) {
        case (.exact(let name), .name(let other)): return name == other
        case (.subdomains(let suffix), .name(let other)): return other.hasSuffix("." + suffix)
        case (.address(let a), .address(let b)): return a == b
        default: return false
        }
    }
}

public struct PatternError: Error, Sendable, Equatable, CustomStringConvertible {
    public var pattern: String
    public var reason: String

    init(_ pattern: String, _ reason: String) {
        self.pattern = pattern
        self.reason = reason
    }

    public var description: String { "\"\(pattern)\": \(reason)" }
}

/// A destination an agent asked for, normalized: names lowercased without a trailing dot, and any address
/// literal (in any spelling) turned into an address.
public struct EgressTarget: Sendable, Hashable, CustomStringConvertible {
    public enum Host: Sendable, Hashable {
        case name(String)
        case address(IPAddress)
    }

    public var host: Host
    public var port: Int

    public var description: String {
        switch host {
        case .name(let n): return "\(n):\(port)"
        case .address(.v6(let b)): return "[\(IPAddress.v6(b))]:\(port)"
        case .address(let a): return "\(a):\(port)"
        }
    }

    /// Parses `host:port` (CONNECT authority form). nil when it is not a usable destination.
    public static func parse(authority: String, defaultPort: Int? = nil) -> EgressTarget? {
        var hostPart: Substring
        var port = defaultPort
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            hostPart = authority[...close]
            let rest = authority[authority.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()) else { return nil }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            guard let p = Int(authority[authority.index(after: colon)...]) else { return nil }
            port = p
        } else {
            hostPart = Substring(authority)
        }
        guard let port, (1...65535).contains(port) else { return nil }
        if let address = IPAddress.parse(String(hostPart)) {
            return EgressTarget(host: .address(address), port: port)
        }
        var name = hostPart.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        guard HostName.isValid(name) else { return nil }
        return EgressTarget(host: .name(name), port: port)
    }
}

enum HostName {
    /// RFC 1123 host names, ASCII only (non-ASCII must arrive already in punycode).
    static func isValid(_ name: String) -> Bool {
        guard (1...253).contains(name.utf8.count) else { return false }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-",
                label.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D })
            else { return false }
        }
        return true
    }
}

/// The compiled egress rules of one sandbox.
public struct EgressRules: Sendable {
    public var allow: [HostPattern]
    public var deny: [HostPattern]
    public var allowedAddresses: Set<IPAddress>

    public enum Decision: Sendable, Equatable {
        case allowed
        case denied(reason: String, message: String)
    }

    public init(_ policy: EgressPolicy) {
        allow = policy.allow.compactMap { try? HostPattern.parse($0).get() }
        deny = policy.deny.compactMap { try? HostPattern.parse($0).get() }
        allowedAddresses = Set(policy.allowAddresses.compactMap(IPAddress.parse))
    }

    /// The decision on the name and port alone, before resolution. Deny wins over allow; default deny.
    public func decide(_ target: EgressTarget) -> Decision {
        if deny.contains(where: { $0.matches(target) }) {
            return .denied(reason: "denylisted", message: "\(target) is on this sandbox's egress deny list")
        }
        guard allow.contains(where: { $0.matches(target) }) else {
            return .denied(reason: "not_allowlisted", message: "\(target) is not on this sandbox's egress allow list")
        }
        if case .address(let address) = target.host {
            return check(address)
        }
        return .allowed
    }

    /// Whether a resolved (or literal) address may be connected to.
    public func check(_ address: IPAddress) -> Decision {
        if let why = address.restriction, !allowedAddresses.contains(address) {
            return .denied(reason: "forbidden_address", message: "\(address) is \(why); egress to it is refused")
        }
        return .allowed
    }
}
