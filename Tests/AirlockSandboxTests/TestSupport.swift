import AirlockSandbox
import Foundation
import Glibc
import Testing

enum TestSupport {
    static let isRoot = geteuid() == 0
    static let rootReason: Comment = "needs root: the sandbox creates namespaces, mounts and switches to the worker's uid"
    /// The policy's default worker identity, from the range Airlock reserves.
    static let workerUID = SandboxPolicy.workerIDs.lowerBound

    static var packageRoot: String {
        URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    static var agentStrictProfile: String { "\(packageRoot)/policies/seccomp/agent-strict.json" }
    static var dockerDefaultProfile: String { "\(packageRoot)/Tests/AirlockSandboxTests/Fixtures/docker-default.json" }

    /// The build products directory: the test bundle sits next to airlock-escape.
    static var productsDirectory: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var url = URL(filePath: exe).deletingLastPathComponent()
        while !url.path.hasSuffix(".build") && url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appending(path: "airlock-escape").path) { return url.path }
            url = url.deletingLastPathComponent()
        }
        return url.path
    }

    /// A fresh directory owned by the worker identity.
    static func makeDirectory(under base: String = "/tmp", owner: UInt32 = TestSupport.workerUID) throws -> String {
        let path = "\(base)/airlock-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chown(path, owner, owner)
        return path
    }

    /// Waits for the worker on a thread of its own: `RunningSandbox.wait()` blocks, and the cooperative pool has
    /// as many threads as this machine has cores.
    static func wait(_ running: RunningSandbox) async -> SandboxExit {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: running.wait()) }.start()
        }
    }

    static func policy(workdir: String) -> SandboxPolicy {
        var policy = SandboxPolicy()
        policy.workdir = workdir
        policy.seccompProfile = agentStrictProfile
        return policy
    }
}

/// Stands in for the router: answers every connection on the sandbox's listeners with 200.
final class TestRouter: RouterRegistrar, @unchecked Sendable {
    private let lock = NSLock()
    private var fds: [Int32] = []

    func register(sandbox: String, listeners: [SandboxListener]) throws {
        for listener in listeners {
            let fd = dup(listener.fd)
            lock.withLock { fds.append(fd) }
            let thread = Thread {
                while true {
                    let client = accept(fd, nil, nil)
                    if client < 0 { if errno == EINTR { continue } else { return } }
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    _ = read(client, &buffer, buffer.count)
                    let response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                    _ = response.withCString { write(client, $0, strlen($0)) }
                    close(client)
                }
            }
            thread.start()
        }
    }

    func stop() {
        lock.withLock {
            for fd in fds {
                shutdown(fd, Int32(SHUT_RDWR))
                close(fd)
            }
            fds.removeAll()
        }
    }
}

struct FailingRegistrar: RouterRegistrar {
    struct Refused: Error, CustomStringConvertible {
        var description: String { "connect(/run/airlock/control.sock): ECONNREFUSED" }
    }

    func register(sandbox: String, listeners: [SandboxListener]) throws {
        throw Refused()
    }
}
