import AirlockJSON

/// The control socket's protocol: one JSON request per connection, descriptors attached with SCM_RIGHTS,
/// one JSON reply line. Only operator UIDs (SO_PEERCRED) are served; agents can never reach the socket.
///
/// Requests:
/// - `{"op":"register","sandbox":"NAME","roles":["inference"]}` with one listening socket per role, in order:
///   the router serves each on behalf of that sandbox (every connection on it is that sandbox).
/// - `{"op":"unregister","sandbox":"NAME"}`: the router stops serving that sandbox's handed-in listeners; with
///   listening sockets attached (the launcher's own), only those.
/// - `{"op":"ping"}`.
///
/// Replies: `{"ok":true}` or `{"ok":false,"error":"…"}`.
public enum ControlMessage {
    public enum Role: String, Sendable, CaseIterable {
        case inference
        case egress
    }

    public enum Request: Sendable, Equatable {
        case register(sandbox: String, roles: [Role])
        case unregister(sandbox: String)
        case ping
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    static let maxRequestBytes = 4096
    static let maxDescriptors = 4

    public static func encode(_ request: Request) -> String {
        switch request {
        case .register(let sandbox, let roles):
            let list = roles.map { "\"\($0.rawValue)\"" }.joined(separator: ",")
            return "{\"op\":\"register\",\"roles\":[\(list)],\"sandbox\":\(JSONText.quoted(sandbox))}"
        case .unregister(let sandbox):
            return "{\"op\":\"unregister\",\"sandbox\":\(JSONText.quoted(sandbox))}"
        case .ping:
            return "{\"op\":\"ping\"}"
        }
    }

    public static func decode(_ bytes: [UInt8]) throws(Failure) -> Request {
        let scanner = JSONScanner(bytes)
        guard let root = try? scanner.validateDocument(), root.kind == .object else {
            throw Failure("the request is not a JSON object")
        }
        guard let op = scanner.value(of: root, key: "op").flatMap(scanner.string) else {
            throw Failure("the request has no \"op\"")
        }
        func sandbox() throws(Failure) -> String {
            guard let name = scanner.value(of: root, key: "sandbox").flatMap(scanner.string), !name.isEmpty else {
                throw Failure("\"\(op)\" needs a \"sandbox\" name")
            }
            return name
        }
        switch op {
        case "register":
            guard let list = scanner.value(of: root, key: "roles"), list.kind == .array else {
                throw Failure("\"register\" needs a \"roles\" array")
            }
            var roles: [Role] = []
            for element in scanner.elements(of: list) {
                guard let text = scanner.string(element), let role = Role(rawValue: text) else {
                    throw Failure("unknown role; roles are \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                roles.append(role)
            }
            guard !roles.isEmpty, roles.count <= maxDescriptors, Set(roles).count == roles.count else {
                throw Failure("\"roles\" must list each role at most once")
            }
            return .register(sandbox: try sandbox(), roles: roles)
        case "unregister":
            return .unregister(sandbox: try sandbox())
        case "ping":
            return .ping
        default:
            throw Failure("unknown op \"\(op)\"; ops are register, unregister, ping")
        }
    }

    static func reply(_ result: Result<Void, Failure>) -> String {
        switch result {
        case .success: return "{\"ok\":true}\n"
        case .failure(let failure): return "{\"ok\":false,\"error\":\(JSONText.quoted(failure.description))}\n"
        }
    }
}
