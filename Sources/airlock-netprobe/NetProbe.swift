#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// airlock-netprobe: a tiny socket probe for the egress-guard tests. It runs as the confined UID (which may not be
// able to read python or other interpreters) and reports the exact errno, so a test can tell a fast reject
// (ECONNREFUSED, EPERM) from a hang or a success.
//
//   airlock-netprobe tcp HOST PORT        connect, 3 s limit          -> "ok" | "error NAME errno=N" | "timeout"
//   airlock-netprobe udp HOST PORT        one datagram with sendto    -> same
//   airlock-netprobe dns HOST             one DNS query to HOST:53     -> same
//   airlock-netprobe serve SECONDS READY_FILE SPEC...   SPEC = tcp:HOST:PORT | udp:HOST:PORT (HOST may be [v6])
//                                        bind all, touch READY_FILE, accept-and-close for SECONDS, then exit
// Exit status: 0 ok, 1 socket error, 3 timeout, 64 usage. tcp, udp and dns also print `elapsed_ms=N` on standard
// error: how long the socket calls took, measured here, so a test can tell an immediate refusal from a slow one
// whatever the time it took to start the probe.

@main
enum NetProbe {
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        started = now()
        switch (args.first, args.count) {
        case ("tcp", 3): finish(connectTCP(host: args[1], port: args[2]))
        case ("udp", 3): finish(sendUDP(host: args[1], port: args[2], payload: Array("probe".utf8)))
        case ("dns", 2): finish(sendUDP(host: args[1], port: "53", payload: dnsQuery))
        case ("serve", 4...): serve(seconds: Int(args[1]) ?? 30, readyFile: args[2], specs: Array(args[3...]))
        default:
            print("usage: airlock-netprobe tcp HOST PORT | udp HOST PORT | dns HOST | serve SECONDS READY_FILE SPEC...")
            exit(64)
        }
    }

    enum Outcome {
        case ok
        case failed(Int32)
        case timeout
    }

    nonisolated(unsafe) static var started: UInt64 = 0

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    static func finish(_ outcome: Outcome) -> Never {
        let line = Array("elapsed_ms=\((now() - started) / 1_000_000)\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        switch outcome {
        case .ok:
            print("ok")
            exit(0)
        case .failed(let code):
            print("error \(errnoName(code)) errno=\(code)")
            exit(1)
        case .timeout:
            print("timeout")
            exit(3)
        }
    }

    static func connectTCP(host: String, port: String) -> Outcome {
        guard let address = resolve(host, port, Int32(SOCK_STREAM.rawValue)) else { return .failed(EINVAL) }
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .failed(errno) }
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        if address.withSockaddr({ connect(fd, $0, $1) }) == 0 { return .ok }
        guard errno == EINPROGRESS else { return .failed(errno) }
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&pfd, 1, 3000) == 1 else { return .timeout }
        var soError: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
        return soError == 0 ? .ok : .failed(soError)
    }

    static func sendUDP(host: String, port: String, payload: [UInt8]) -> Outcome {
        guard let address = resolve(host, port, Int32(SOCK_DGRAM.rawValue)) else { return .failed(EINVAL) }
        let fd = socket(address.family, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return .failed(errno) }
        defer { close(fd) }
        // A netfilter drop or reject in the output hook surfaces right here, as EPERM from sendto.
        let sent = address.withSockaddr { sa, len in
            payload.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, sa, len) }
        }
        return sent < 0 ? .failed(errno) : .ok
    }

    /// A standard query for `example.com. A`, so the datagram is a real DNS query, not just something to port 53.
    static let dnsQuery: [UInt8] =
        [0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]
        + [7] + Array("example".utf8) + [3] + Array("com".utf8) + [0, 0x00, 0x01, 0x00, 0x01]

    static func serve(seconds: Int, readyFile: String, specs: [String]) -> Never {
        var fds: [pollfd] = []
        var isTCP: [Bool] = []
        for spec in specs {
            let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, let colon = parts[1].lastIndex(of: ":") else { fail("bad spec \(spec)") }
            var host = String(parts[1][..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            let port = String(parts[1][parts[1].index(after: colon)...])
            let tcp = parts[0] == "tcp"
            let type = Int32((tcp ? SOCK_STREAM : SOCK_DGRAM).rawValue)
            guard let address = resolve(host, port, type) else { fail("cannot parse \(spec)") }
            let fd = socket(address.family, type, 0)
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            guard fd >= 0, address.withSockaddr({ bind(fd, $0, $1) }) == 0 else { fail("bind \(spec): errno \(errno)") }
            if tcp && listen(fd, 64) != 0 { fail("listen \(spec): errno \(errno)") }
            fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
            isTCP.append(tcp)
        }
        let ready = open(readyFile, O_CREAT | O_WRONLY, 0o644)
        guard ready >= 0 else { fail("cannot create \(readyFile)") }
        close(ready)
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = deadline.tv_sec + seconds
        var buffer = [UInt8](repeating: 0, count: 2048)
        while true {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            if now.tv_sec >= end { exit(0) }
            guard poll(&fds, nfds_t(fds.count), 200) > 0 else { continue }
            for index in fds.indices where fds[index].revents & Int16(POLLIN) != 0 {
                if isTCP[index] {
                    let client = accept(fds[index].fd, nil, nil)
                    if client >= 0 { close(client) }
                } else {
                    _ = recv(fds[index].fd, &buffer, buffer.count, 0)
                }
            }
        }
    }

    static func fail(_ message: String) -> Never {
        print("serve: \(message)")
        exit(1)
    }

    /// A numeric socket address; `AI_NUMERICHOST` guarantees no DNS lookup ever happens.
    struct Address {
        var family: Int32
        var storage: sockaddr_storage
        var length: socklen_t

        func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
            withUnsafePointer(to: storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
            }
        }
    }

    static func resolve(_ host: String, _ port: String, _ type: Int32) -> Address? {
        var hints = addrinfo()
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV
        hints.ai_socktype = type
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, port, &hints, &result) == 0, let info = result else { return nil }
        defer { freeaddrinfo(result) }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { dest in
            dest.copyMemory(
                from: UnsafeRawBufferPointer(start: info.pointee.ai_addr, count: Int(info.pointee.ai_addrlen)))
        }
        return Address(family: info.pointee.ai_family, storage: storage, length: info.pointee.ai_addrlen)
    }

    static func errnoName(_ code: Int32) -> String {
        let names: [Int32: String] = [
            EPERM: "EPERM", EACCES: "EACCES", ECONNREFUSED: "ECONNREFUSED", ECONNRESET: "ECONNRESET",
            EHOSTUNREACH: "EHOSTUNREACH", ENETUNREACH: "ENETUNREACH", ETIMEDOUT: "ETIMEDOUT",
            EADDRNOTAVAIL: "EADDRNOTAVAIL", EINVAL: "EINVAL", EAFNOSUPPORT: "EAFNOSUPPORT",
        ]
        return names[code] ?? "E?"
    }
}
