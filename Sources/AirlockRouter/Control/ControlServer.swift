#if canImport(Glibc)
import Glibc
#endif
import CAirlockLinux
import Foundation
import Logging

/// The router's control socket: a Unix socket (mode 0600) served by one thread, accepting only operator
/// UIDs by SO_PEERCRED. Through it the sandbox launcher hands in listeners it created inside a sandbox's
/// network namespace. Agents never reach it: it lives outside their mount view, network namespace and
/// Landlock rules, and a connection from any other UID is refused before its request is read.
final class ControlServer: @unchecked Sendable {
    typealias Handler = @Sendable (ControlMessage.Request, [Int32]) async -> Result<Void, ControlMessage.Failure>

    let path: String
    private let operators: Set<UInt32>
    private let handler: Handler
    private let logger: Logger
    private let fd: Int32
    private let wake: [Int32]
    private var thread: Thread?

    init(path: String, operators: Set<UInt32>, logger: Logger, handler: @escaping Handler) throws {
        self.path = path
        self.operators = operators
        self.logger = logger
        self.handler = handler
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError(call: "socket", subject: path, errno: errno) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw SystemCallError(call: "bind", subject: path, errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        // Only the owner may connect; the socket file is created 0600 (umask 0177 during bind).
        let previous = umask(0o177)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(previous)
        guard bound == 0, listen(fd, 16) == 0 else {
            let e = errno
            close(fd)
            throw SystemCallError(call: "bind/listen", subject: path, errno: e)
        }
        self.fd = fd
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0, fcntl(pipeFDs[0], F_SETFD, FD_CLOEXEC) == 0, fcntl(pipeFDs[1], F_SETFD, FD_CLOEXEC) == 0 else {
            close(fd)
            throw SystemCallError(call: "pipe2", subject: path, errno: errno)
        }
        wake = pipeFDs
    }

    /// Gives the socket file to the router's user, before privileges are dropped.
    func chown(to uid: uid_t, gid: gid_t) throws {
        guard Glibc.chown(path, uid, gid) == 0 else { throw SystemCallError(call: "chown", subject: path, errno: errno) }
    }

    func start() {
        let thread = Thread { [self] in self.serve() }
        thread.name = "airlock-control"
        self.thread = thread
        thread.start()
    }

    /// Closes a server that was never started.
    func discard() {
        close(fd)
        close(wake[0])
        close(wake[1])
        unlink(path)
    }

    /// Stops accepting and removes the socket file.
    func stop() {
        var byte: UInt8 = 1
        _ = write(wake[1], &byte, 1)
    }

    private func serve() {
        defer {
            close(fd)
            close(wake[0])
            close(wake[1])
            unlink(path)
        }
        while true {
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wake[0], events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, -1)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 || fds[1].revents != 0 { return }
            let client = accept(fd, nil, nil)
            if client < 0 { continue }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            serve(client)
            close(client)
        }
    }

    private func serve(_ client: Int32) {
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        // The router's own user is always an operator: it launches local MCP servers' sandboxes itself.
        guard airlock_peercred(client, &pid, &uid, &gid) == 0, operators.contains(uid) || uid == geteuid() else {
            logger.warning("control socket: refused a peer that is not an operator", metadata: ["peer.uid": "\(uid)", "peer.pid": "\(pid)"])
            send(client, ControlMessage.reply(.failure(.init("UID \(uid) is not an operator of this router"))))
            lingerAndDrain(client)
            return
        }
        var descriptors = [Int32](repeating: -1, count: ControlMessage.maxDescriptors)
        var count: Int32 = 0
        var buffer = [UInt8](repeating: 0, count: ControlMessage.maxRequestBytes)
        let n = airlock_recv_fds(client, &descriptors, Int32(descriptors.count), &count, &buffer, buffer.count)
        guard n > 0 else {
            send(client, ControlMessage.reply(.failure(.init(n == 0 ? "empty request" : "could not read the request (errno \(-n))"))))
            return
        }
        let received = Array(descriptors.prefix(Int(count)))
        let result: Result<Void, ControlMessage.Failure>
        do {
            let request = try ControlMessage.decode(Array(buffer.prefix(n)))
            result = wait { await self.handler(request, received) }
        } catch {
            received.forEach { close($0) }
            result = .failure(error)
        }
        send(client, ControlMessage.reply(result))
    }

    private func wait(_ body: @escaping @Sendable () async -> Result<Void, ControlMessage.Failure>) -> Result<Void, ControlMessage.Failure> {
        let semaphore = DispatchSemaphore(value: 0)
        let box = ResultBox()
        Task {
            box.value = await body()
            semaphore.signal()
        }
        semaphore.wait()
        return box.value ?? .failure(.init("internal error"))
    }

    private final class ResultBox: @unchecked Sendable {
        var value: Result<Void, ControlMessage.Failure>?
    }

    /// Closing with unread request bytes would reset the connection and could destroy the reply in flight;
    /// finish sending, then read (briefly, bounded) whatever the peer sent, without interpreting it.
    private func lingerAndDrain(_ client: Int32) {
        shutdown(client, Int32(SHUT_WR))
        var tv = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sink = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<4 {
            let n = sink.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
        }
    }

    private func send(_ client: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}
