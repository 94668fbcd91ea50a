#if canImport(Glibc)
import AirlockJSON
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AirlockSandbox
import CAirlockLinux

/// Hands the sandbox's listeners to the router over its control socket: the first serves the model API for
/// this sandbox (8443), the second its egress proxy (3128). If the router cannot be reached the worker is never
/// started. The protocol is the router's (AirlockRouter's ControlMessage): one JSON request with the descriptors
/// attached, one JSON reply line.
public struct ControlSocketRegistrar: RouterRegistrar {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// A refusal or an unreachable router, in words.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public func register(sandbox: String, listeners: [SandboxListener]) throws {
        // The policy lists the router's ports as [model API, egress proxy].
        let roles = zip(listeners, ["inference", "egress"]).map { "\"\($1)\"" }.joined(separator: ",")
        let request = "{\"op\":\"register\",\"roles\":[\(roles)],\"sandbox\":\(JSONText.quoted(sandbox))}"
        try send(request, descriptors: listeners.prefix(2).map(\.fd))
    }

    /// The router's egress CA certificate, which the router publishes as `egress-ca.pem` beside its control socket
    /// (public part only; the key never leaves the router's state directory). nil when there is none: a router
    /// without inspection, or an older router. A file there that is not a small regular file, or that anyone but its
    /// owner may write, is refused: it decides what the sandbox trusts.
    public func egressCertificate() throws -> String? {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let file = directory + "/egress-ca.pem"
        let fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw Failure(description: "cannot read the router's egress CA \(file): \(SystemError(errno))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size <= 64 << 10, st.st_mode & 0o022 == 0,
            st.st_uid == 0 || st.st_uid == geteuid() || st.st_uid == statOwner(directory)
        else {
            throw Failure(description: "\(file) is not a small regular file written only by the router; remove it and restart the router")
        }
        let bytes: [UInt8]
        do {
            bytes = try readAll(fd: fd, limit: 64 << 10)
        } catch {
            throw Failure(description: "cannot read the router's egress CA \(file): \(error)")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasPrefix("-----BEGIN CERTIFICATE-----") else {
            throw Failure(description: "\(file) is not a PEM certificate; remove it and restart the router")
        }
        return text
    }

    private func statOwner(_ directory: String) -> uid_t? {
        var st = stat()
        return stat(directory, &st) == 0 ? st.st_uid : nil
    }

    /// Tells the router the sandbox is gone: with `listeners` (copies of the ones registered), only those
    /// listeners of the name stop, not those of another sandbox of the same name.
    public func unregister(sandbox: String, listeners: [Int32] = []) throws {
        try send("{\"op\":\"unregister\",\"sandbox\":\(JSONText.quoted(sandbox))}", descriptors: listeners)
    }

    func send(_ request: String, descriptors: [Int32]) throws(Failure) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(SystemError(errno))") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw Failure(description: "control socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            throw Failure(description: "the router's control socket \(path) is not reachable (\(reason)); "
                + "is the router running with router.control set?")
        }
        var timeout = timeval(tv_sec: Self.answerSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let message = Array(request.utf8)
        let rc = descriptors.withUnsafeBufferPointer { fds in
            message.withUnsafeBytes {
                airlock_send_fds(fd, fds.baseAddress, Int32(fds.count), $0.baseAddress, $0.count)
            }
        }
        guard rc == 0 else { throw Failure(description: "sending to \(path) failed: \(SystemError(-rc).name)") }
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while !reply.contains(0x0A) {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN && reply.isEmpty {
                throw Failure(description: "the router did not answer on \(path) within \(Self.answerSeconds) s; "
                    + "check the router's log")
            }
            if n <= 0 { break }
            reply.append(contentsOf: chunk.prefix(n))
        }
        try Self.check(reply: Array(reply.prefix { $0 != 0x0A }), path: path)
    }

    /// How long to wait for the router's reply (SO_RCVTIMEO).
    static let answerSeconds = 10

    /// `{"ok":true}`, or `{"ok":false,"error":"…"}` becomes the router's words.
    static func check(reply: [UInt8], path: String) throws(Failure) {
        guard let root = try? JSONReader.parse(reply), case .object(let members) = root.kind,
            let ok = members.first(where: { $0.key == "ok" }), case .bool(let accepted) = ok.value.kind
        else {
            throw Failure(description: "the router gave no answer on \(path); check the router's log")
        }
        guard accepted else {
            var why = "refused"
            if let error = members.first(where: { $0.key == "error" }), case .string(let text) = error.value.kind {
                why = text
            }
            throw Failure(description: "the router refused: \(why)")
        }
    }
}
