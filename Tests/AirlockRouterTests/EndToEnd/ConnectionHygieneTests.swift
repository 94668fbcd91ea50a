#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy
import AirlockTestSupport
import Foundation
import Prometheus
import Testing

@testable import AirlockRouter

/// What a peer can do to the router with connections alone: hold many, or leave them half-open.
@Suite("Connection hygiene", .timeLimit(.minutes(1)))
struct ConnectionHygieneTests {
    @Test("one peer's idle connections stop at its cap with a clear 429; another sandbox is still served; a closed one frees its place")
    func perPeerCap() async throws {
        let (fd, handedPort) = Loopback.listener()
        try await withHarness(configure: { c, _ in
            c.router.limits.maxConnectionsPerPeer = 4
            c.sandboxes.append(SandboxPolicy(name: "handed", tenant: Harness.tenant, models: ["embed-test"]))
            c.router.listeners.append(ListenerConfig(kind: .inherited(fd: fd, sandbox: "handed")))
        }) { h in
            var held: [RawSocket] = []
            for _ in 0..<4 {
                let socket = try RawSocket(port: h.routerPort)
                socket.send("GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n")
                let answer = try await offPool { socket.readSome() }
                #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer.prefix(80))")
                held.append(socket)
            }
            // The fifth, from the same UID, is told why and closed without its request being read.
            let extra = try RawSocket(port: h.routerPort)
            let (refused, closed) = try await offPool { extra.readAll() }
            #expect(refused.hasPrefix("HTTP/1.1 429"), "\(refused)")
            #expect(refused.contains("\"code\":\"too_many_connections\""))
            #expect(refused.lowercased().contains("retry-after: 1"))
            #expect(closed)
            // Another peer (a handed-in sandbox listener) is unaffected.
            let other = try RawSocket(port: handedPort)
            other.send("GET /v1/models HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            let (answer, _) = try await offPool { other.readAll() }
            #expect(answer.hasPrefix("HTTP/1.1 200"))
            // Closing one of the four gives its place back.
            held.removeLast()
            let freed = try await eventually {
                let again = try RawSocket(port: h.routerPort)
                again.send("GET /v1/models HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                let (text, _) = try await offPool { again.readAll() }
                return text.hasPrefix("HTTP/1.1 200")
            }
            #expect(freed)
            #expect(h.router.runtimeForTesting.metrics.registry.emitToString().contains("reason=\"too_many_connections\""))
            withExtendedLifetime(held) {}
        }
    }

    @Test("airlock_requests_total counts every answer, refusals made before the body is read (413, 405) included")
    func earlyRefusalsCounted() async throws {
        try await withHarness { h in
            let large = try RawSocket(port: h.routerPort)
            large.send("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 99999999\r\n\r\n")
            let (first, _) = try await offPool { large.readAll() }
            #expect(first.hasPrefix("HTTP/1.1 413"))
            let put = try RawSocket(port: h.routerPort)
            put.send("PUT /v1/chat/completions HTTP/1.1\r\nhost: x\r\n\r\n")
            let (second, _) = try await offPool { put.readAll() }
            #expect(second.hasPrefix("HTTP/1.1 405"))
            let text = h.router.runtimeForTesting.metrics.registry.emitToString()
            let lines = text.split(separator: "\n").filter { $0.hasPrefix("airlock_requests_total{") }
            #expect(lines.contains { $0.contains("route=\"chat.completions\"") && $0.contains("status=\"413\"") }, "\(lines)")
            #expect(lines.contains { $0.contains("route=\"unknown\"") && $0.contains("status=\"405\"") }, "\(lines)")
        }
    }

    static func operatorPort(_ h: Harness) -> Int {
        Int(h.router.boundAddresses.last!.split(separator: ":").last!)!
    }

    @Test("the operator listener answers its own UIDs only: any other peer gets 403 and is closed")
    func operatorUIDs() async throws {
        try await withHarness(configure: { c, _ in
            c.router.listeners.append(ListenerConfig(kind: .tcp(host: "127.0.0.1", port: 0), role: .operator, uids: [4_242_424]))
        }) { h in
            let socket = try RawSocket(port: Self.operatorPort(h))
            socket.send("GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
            let (text, closed) = try await offPool { socket.readAll() }
            #expect(text.hasPrefix("HTTP/1.1 403"), "\(text)")
            #expect(text.contains("UID \(getuid()) may not use the operator listener"))
            #expect(!text.contains("airlock_"))
            #expect(closed)
        }
        // Without `uids`: root and the router's own UID (this process) are answered.
        try await withHarness(configure: { c, _ in
            c.router.listeners.append(ListenerConfig(kind: .tcp(host: "127.0.0.1", port: 0), role: .operator))
        }) { h in
            let socket = try RawSocket(port: Self.operatorPort(h))
            socket.send("GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            let (text, _) = try await offPool { socket.readAll() }
            #expect(text.hasPrefix("HTTP/1.1 200"), "\(text.prefix(200))")
        }
    }

    @Test("an operator connection whose peer has finished sending is closed at once (no socket left in CLOSE_WAIT)")
    func operatorFIN() async throws {
        // The head timeout (15 s here) is longer than each read's 5 s: only the FIN can close these in time.
        try await withHarness(configure: { c, _ in
            c.router.listeners.append(ListenerConfig(kind: .tcp(host: "127.0.0.1", port: 0), role: .operator))
        }) { h in
            let port = Self.operatorPort(h)
            for _ in 0..<50 {
                let socket = try RawSocket(port: port, timeoutSeconds: 5)
                shutdown(socket.fd, Int32(SHUT_WR))
                let (_, closed) = try await offPool { socket.readAll() }
                #expect(closed)
            }
            // A complete request is still answered, and the connection kept for the next one.
            let good = try RawSocket(port: port)
            good.send("GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            let first = try await offPool { good.readSome() }
            #expect(first.hasPrefix("HTTP/1.1 200"))
            good.send("GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            let second = try await offPool { good.readSome() }
            #expect(second.hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test("an operator connection that trickles a head that never completes is closed at the head timeout")
    func operatorSlowHead() async throws {
        try await withHarness(configure: { c, _ in
            c.router.limits.headerTimeout = .milliseconds(500)
            c.router.listeners.append(ListenerConfig(kind: .tcp(host: "127.0.0.1", port: 0), role: .operator))
        }) { h in
            let slow = try RawSocket(port: Self.operatorPort(h), timeoutSeconds: 20)
            slow.send("GET /metrics HTTP/1.1\r\n")
            for _ in 0..<3 {
                try await Task.sleep(for: .milliseconds(100))
                slow.send("x-a: b\r\n")
            }
            let (text, closed) = try await offPool { slow.readAll() }
            #expect(closed)
            #expect(text.isEmpty)
        }
    }
}
