#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy
import ArgumentParser
import Foundation

/// `airlock health`: for startup and readiness probes (an HTTP probe cannot reach a loopback-only listener
/// from outside the pod). Asks the router's operator listener for /readyz; exit 0 or 1 with one line why.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Exit 0 if the router is ready, 1 otherwise, with one line saying why (for probes)."
    )

    @Option(name: .shortAndLong, help: "The router's configuration (to find its operator listener).")
    var config: String = "/etc/airlock/airlock.yaml"

    @Option(help: "Seconds to wait for an answer.")
    var timeout: Int = 2

    func run() async throws {
        let loaded: LoadedConfig
        do {
            loaded = try ConfigLoader.load(path: config)
        } catch {
            print("unhealthy: cannot read \(config): \(error)")
            throw ExitCode(1)
        }
        guard let listener = loaded.config.router.listeners.first(where: { $0.role == .operator }) else {
            print("unhealthy: \(config) has no `role: operator` listener to ask; add one (e.g. tcp: 127.0.0.1:9464)")
            throw ExitCode(1)
        }
        switch ProbeClient.get("/readyz", from: listener.kind, timeoutSeconds: timeout) {
        case .success(let (status, body)) where status == 200:
            print("healthy: \(body.trimmingCharacters(in: .whitespacesAndNewlines))")
        case .success(let (status, body)):
            print("unhealthy: HTTP \(status): \(body.trimmingCharacters(in: .whitespacesAndNewlines))")
            throw ExitCode(1)
        case .failure(let why):
            print("unhealthy: \(why.description)")
            throw ExitCode(1)
        }
    }
}

/// A minimal blocking HTTP/1.1 GET over TCP or a Unix socket, bounded in time.
enum ProbeClient {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func get(_ path: String, from kind: ListenerConfig.Kind, timeoutSeconds: Int) -> Result<(Int, String), Failure> {
        let fd: Int32
        let target: String
        switch kind {
        case .tcp(let host, let port):
            target = "\(host):\(port)"
            let family = host.contains(":") ? AF_INET6 : AF_INET
            fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return .failure(Failure(description: "socket: errno \(errno)")) }
            var rc: Int32
            if family == AF_INET {
                var addr = sockaddr_in()
                addr.sin_family = sa_family_t(AF_INET)
                addr.sin_port = in_port_t(UInt16(port).bigEndian)
                inet_pton(AF_INET, host, &addr.sin_addr)
                rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            } else {
                var addr = sockaddr_in6()
                addr.sin6_family = sa_family_t(AF_INET6)
                addr.sin6_port = in_port_t(UInt16(port).bigEndian)
                inet_pton(AF_INET6, host, &addr.sin6_addr)
                rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
            }
            if rc != 0 {
                let e = errno
                close(fd)
                return .failure(Failure(description: "cannot connect to the operator listener \(target): \(String(cString: strerror(e)))"))
            }
        case .unix(let socketPath, _, _):
            target = socketPath
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(socketPath.utf8)
            withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes.prefix($0.count - 1)) }
            let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            if rc != 0 {
                let e = errno
                close(fd)
                return .failure(Failure(description: "cannot connect to the operator socket \(target): \(String(cString: strerror(e)))"))
            }
        case .inherited:
            return .failure(Failure(description: "the operator listener is an inherited descriptor; probe it by its address"))
        }
        defer { close(fd) }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("GET \(path) HTTP/1.1\r\nhost: airlock\r\nconnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while response.count < 65536 {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response.append(contentsOf: chunk.prefix(n))
        }
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 "), let status = Int(text.dropFirst(9).prefix(3)) else {
            return .failure(Failure(description: "no HTTP answer from \(target) within \(timeoutSeconds) s"))
        }
        let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        return .success((status, body))
    }
}
