#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy
import AirlockTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import AirlockFront
@testable import AirlockRouter

/// The control socket: operators hand in sandbox listeners; nobody else can.
@Suite("Control socket", .timeLimit(.minutes(1)))
struct ControlSocketTests {
    /// This process's descriptors that refer to the socket with `inode`.
    static func openDescriptors(toSocketInode inode: ino_t) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) == "socket:[\(inode)]" }
    }

    static func configure(_ c: inout AirlockConfig, _ dir: String) {
        c.sandboxes[0].uids = [4_242_424]
        c.sandboxes.append(SandboxPolicy(name: "worker", tenant: Harness.tenant, models: ["embed-test"]))
        c.router.control = ControlSettings(path: dir + "/control.sock", operatorUIDs: [getuid()])
    }

    /// One request the way `airlock run` sends it (AirlockFront's registrar), encoded by the router's own type.
    static func send(_ request: ControlMessage.Request, descriptors: [Int32] = [], to path: String) throws {
        try ControlSocketRegistrar(path: path).send(ControlMessage.encode(request), descriptors: descriptors)
    }

    static func models(port: Int) async throws -> String {
        try await offPool {
            let socket = try RawSocket(port: port)
            socket.send("GET /v1/models HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            return socket.readAll().text
        }
    }

    @Test("a listener registered over the control socket serves that sandbox; unregister stops it")
    func registerAndUnregister() async throws {
        try await withHarness(configure: Self.configure) { h in
            let path = h.directory + "/control.sock"
            var st = stat()
            #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o600)
            try Self.send(.ping, to: path)
            let (fd, port) = Loopback.listener()
            try await offPool { try Self.send(.register(sandbox: "worker", roles: [.inference]), descriptors: [fd], to: path) }
            close(fd)
            let listed = try await Self.models(port: port)
            #expect(listed.hasPrefix("HTTP/1.1 200") && listed.contains("embed-test") && !listed.contains("gpt-test"))
            try await offPool { try Self.send(.unregister(sandbox: "worker"), to: path) }
            let refused = await eventually { (try? RawSocket(port: port, timeoutSeconds: 1)) == nil }
            #expect(refused)
        }
    }

    @Test("an egress listener registered for a sandbox serves that sandbox's egress policy")
    func registerEgress() async throws {
        try await withHarness(configure: Self.configure) { h in
            let (fd, port) = Loopback.listener()
            try await offPool {
                try Self.send(.register(sandbox: "worker", roles: [.egress]), descriptors: [fd], to: h.directory + "/control.sock")
            }
            close(fd)
            let text = try await offPool {
                let socket = try RawSocket(port: port)
                socket.send("CONNECT example.com:443 HTTP/1.1\r\nhost: example.com\r\n\r\n")
                return socket.readAll().text
            }
            #expect(text.hasPrefix("HTTP/1.1 403") && text.contains("not_allowlisted"))
        }
    }

    @Test("bad requests are refused with a reason and their descriptors closed", arguments: [
        (ControlMessage.Request.register(sandbox: "ghost", roles: [.inference]), 1, "no sandbox is named"),
        (.register(sandbox: "worker", roles: [.inference]), 0, "1 role(s) but 0 descriptor(s)"),
        (.register(sandbox: "worker", roles: [.inference, .egress]), 1, "2 role(s) but 1 descriptor(s)"),
    ])
    func refused(request: ControlMessage.Request, descriptors: Int, reason: String) async throws {
        try await withHarness(configure: Self.configure) { h in
            let (fd, _) = Loopback.listener()
            var st = stat()
            fstat(fd, &st)
            let path = h.directory + "/control.sock"
            await #expect {
                try await offPool { try Self.send(request, descriptors: Array([fd].prefix(descriptors)), to: path) }
            } throws: { "\($0)".contains(reason) }
            close(fd)
            // The router received its own copy of the socket in this process; no descriptor may still refer to it.
            #expect(Self.openDescriptors(toSocketInode: st.st_ino).isEmpty)
        }
    }

    @Test("another UID cannot connect (0600), and with the file opened up SO_PEERCRED still refuses it",
          .enabled(if: Loopback.canSwitchUsers, "needs root, setpriv and curl to connect as another UID"))
    func nonOperator() async throws {
        try await withHarness(configure: Self.configure) { h in
            let path = h.directory + "/control.sock"
            chmod(h.directory, 0o755)
            let arguments = ["-s", "--http0.9", "--unix-socket", path, "http://x/"]
            let (closedStatus, _) = try await offPool { try Loopback.curl(asUID: 1000, arguments) }
            #expect(closedStatus == 7)  // curl: could not connect (EACCES on the socket file)
            chmod(path, 0o666)
            let (_, reply) = try await offPool { try Loopback.curl(asUID: 1000, arguments) }
            #expect(reply.contains("\"ok\":false") && reply.contains("UID 1000 is not an operator"))
        }
    }
}
