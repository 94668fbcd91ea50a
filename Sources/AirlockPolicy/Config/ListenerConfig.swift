/// One place the router accepts agent connections. Exactly one of `tcp`, `unix` or `fd` is set.
public struct ListenerConfig: Decodable, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// TCP on a loopback address (`127.0.0.1:8443`, `[::1]:8443`); identity from the peer socket's UID.
        case tcp(host: String, port: Int)
        /// A Unix socket; identity from SO_PEERCRED.
        case unix(path: String, mode: ConfigFileMode, group: String?)
        /// An already-bound listening socket inherited as this descriptor; every connection on it is `sandbox`.
        case inherited(fd: Int32, sandbox: String)
    }

    /// What a listener serves.
    public enum Role: String, ConfigEnum {
        /// The model API (`/v1/...`).
        case inference
        /// The egress proxy (HTTP CONNECT and plain-HTTP forwarding); never the model API.
        case egress
        /// Operators only: `GET /metrics` (Prometheus), `/healthz`, `/readyz`; never agents' traffic.
        case `operator`
    }

    public var kind: Kind
    public var role: Role
    /// For the operator listener: the peer UIDs it answers (its `/metrics` names tenants, sandboxes and budgets).
    /// nil: root and the UID the router serves as. Every other peer gets 403 and the connection is closed.
    public var uids: [UInt32]?

    enum CodingKeys: String, CodingKey {
        case tcp, unix, mode, group, fd, sandbox, role, uids
    }

    public init(kind: Kind, role: Role = .inference, uids: [UInt32]? = nil) {
        self.kind = kind
        self.role = role
        self.uids = uids
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let tcp = try c.decodeIfPresent(String.self, forKey: .tcp)
        let unix = try c.decodeIfPresent(String.self, forKey: .unix)
        let fd = try c.decodeIfPresent(Int32.self, forKey: .fd)
        let mode = try c.decodeIfPresent(ConfigFileMode.self, forKey: .mode)
        let group = try c.decodeIfPresent(String.self, forKey: .group)
        let sandbox = try c.decodeIfPresent(String.self, forKey: .sandbox)
        role = try c.decodeIfPresent(Role.self, forKey: .role) ?? .inference
        uids = try c.decodeIfPresent([UInt32].self, forKey: .uids)
        let given = [tcp != nil, unix != nil, fd != nil].filter { $0 }.count
        guard given == 1 else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription:
                        "a listener needs exactly one of `tcp`, `unix` or `fd` (found \(given)); write one entry per listener"
                )
            )
        }
        if let tcp {
            guard mode == nil, group == nil, sandbox == nil else {
                throw DecodingError.dataCorrupted(
                    .init(
                        codingPath: decoder.codingPath,
                        debugDescription: "`mode`, `group` and `sandbox` do not apply to a `tcp` listener; remove them"
                    )
                )
            }
            let (host, port) = try ListenerConfig.splitHostPort(tcp, codingPath: decoder.codingPath + [CodingKeys.tcp])
            kind = .tcp(host: host, port: port)
        } else if let unix {
            guard sandbox == nil else {
                throw DecodingError.dataCorrupted(
                    .init(
                        codingPath: decoder.codingPath + [CodingKeys.sandbox],
                        debugDescription: "a `unix` listener maps peers by `uids`/`gids` in `sandboxes`; remove `sandbox`"
                    )
                )
            }
            kind = .unix(path: unix, mode: mode ?? ConfigFileMode(rawValue: 0o660)!, group: group)
        } else if let fd {
            guard let sandbox else {
                throw DecodingError.keyNotFound(
                    CodingKeys.sandbox,
                    .init(
                        codingPath: decoder.codingPath,
                        debugDescription: "an `fd` listener needs `sandbox`: every connection on it is that sandbox"
                    )
                )
            }
            guard mode == nil, group == nil else {
                throw DecodingError.dataCorrupted(
                    .init(
                        codingPath: decoder.codingPath,
                        debugDescription: "`mode` and `group` do not apply to an inherited `fd` listener; remove them"
                    )
                )
            }
            kind = .inherited(fd: fd, sandbox: sandbox)
        } else {
            preconditionFailure("unreachable: exactly one listener kind was counted")
        }
    }

    /// Splits `127.0.0.1:8443` or `[::1]:8443`.
    static func splitHostPort(_ text: String, codingPath: [any CodingKey]) throws -> (String, Int) {
        let fail = { (why: String) -> DecodingError in
            DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: why))
        }
        var host: Substring
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw fail("\"\(text)\" is not HOST:PORT; write IPv6 addresses as [::1]:8443")
            }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw fail("\"\(text)\" has no :PORT after the address") }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
                throw fail("\"\(text)\" is not HOST:PORT; write IPv6 addresses as [::1]:8443")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        // Port 0 asks the kernel for a free port; `airlock router --ready-file` reports which one.
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw fail("\"\(portText)\" in \"\(text)\" is not a port from 0 to 65535")
        }
        guard !host.isEmpty else { throw fail("\"\(text)\" has no host; use 127.0.0.1") }
        return (String(host), port)
    }
}
