import AirlockSandbox
import Foundation
import Glibc
import Testing

/// Runs airlock-escape inside the real sandbox with agent-strict.json and checks every line.
@Suite(.serialized)
struct EscapeSuiteTests {
    struct Line {
        var kind: String
        var name: String
        var expected: String?
        var got: String?
        var ok: Bool
    }

    static func parse(_ output: String) -> [Line] {
        output.split(separator: "\n").compactMap { raw in
            let fields = raw.split(separator: " ")
            guard let kind = fields.first, kind == "ESCAPE" || kind == "CONTROL" else { return nil }
            var values: [String: String] = [:]
            for field in fields.dropFirst() {
                let pair = field.split(separator: "=", maxSplits: 1)
                if pair.count == 2 { values[String(pair[0])] = String(pair[1]) }
            }
            return Line(kind: String(kind), name: values["name"] ?? "?", expected: values["expected"],
                        got: values["got"], ok: fields.contains("ok"))
        }
    }

    @Test(.enabled(if: TestSupport.isRoot, TestSupport.rootReason))
    func everyEscapeIsRefusedAndEveryControlWorks() async throws {
        let scratch = try TestSupport.makeDirectory(under: "/var/tmp", owner: 0)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let workdir = try TestSupport.makeDirectory(under: scratch)
        let secrets = "\(scratch)/router-state"
        try FileManager.default.createDirectory(atPath: "\(secrets)/receipts", withIntermediateDirectories: true)
        try "sk-test-credential".write(toFile: "\(secrets)/credentials", atomically: false, encoding: .utf8)
        try "receipt".write(toFile: "\(secrets)/receipts/receipts.log", atomically: false, encoding: .utf8)
        chmod("\(secrets)/credentials", 0o600)
        let outside = "\(scratch)/outside.txt"
        try "outside".write(toFile: outside, atomically: false, encoding: .utf8)
        chown(outside, TestSupport.workerUID, TestSupport.workerUID)
        chmod(outside, 0o666)
        // The build may live under /tmp (a clone there), which the sandbox replaces with its own tmpfs: run a
        // copy from the scratch directory, which the sandbox sees read-only.
        let escape = "\(scratch)/airlock-escape"
        try FileManager.default.copyItem(atPath: "\(TestSupport.productsDirectory)/airlock-escape", toPath: escape)
        chmod(escape, 0o755)
        let probe = "\(scratch)/suid-probe"
        try FileManager.default.copyItem(atPath: escape, toPath: probe)
        chmod(probe, 0o4755)

        // The host's own things the view must not show: socket files of every type (one the worker's UID owns, mode
        // 0600) in a directory under /run, a listening abstract socket, and a private file of the worker's UID.
        let hostSockets = "/run/airlock-escape-\(getpid())"
        let host = try HostSockets(directory: hostSockets, abstractName: "airlock-escape-\(getpid())", workerUID: TestSupport.workerUID)
        defer { host.close() }
        let home = try TestSupport.makeDirectory(under: "/var/tmp", owner: 0)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let workerFile = "\(home)/private"
        try "private".write(toFile: workerFile, atomically: false, encoding: .utf8)
        chown(workerFile, TestSupport.workerUID, TestSupport.workerUID)
        chmod(workerFile, 0o600)

        var policy = TestSupport.policy(workdir: workdir)
        policy.readonlyPaths += [scratch]
        policy.hiddenPaths = [secrets]
        policy.limits.processes = 64
        let launcher = try SandboxLauncher(policy: policy)
        let router = TestRouter()
        defer { router.stop() }
        let arguments = [
            escape, "--router-pid", "\(getpid())", "--router-port", "8443", "--hidden-file", "\(secrets)/credentials",
            "--hidden-dir", "\(secrets)/receipts", "--outside-file", outside, "--suid-probe", probe, "--nproc", "64",
            "--host-socket-dir", hostSockets, "--abstract-name", "airlock-escape-\(getpid())", "--worker-file", workerFile,
            "--mode", "privileged",
        ]
        let command = ["/bin/sh", "-c", "exec \"$@\" > escape.log 2>&1", "sh"] + arguments
        let running = try launcher.start(command, sandbox: "escape-suite", registrar: router)
        let exit = await TestSupport.wait(running)
        let output = try String(contentsOfFile: "\(workdir)/escape.log", encoding: .utf8)
        let lines = Self.parse(output)
        let escapes = lines.filter { $0.kind == "ESCAPE" }
        let controls = lines.filter { $0.kind == "CONTROL" }
        #expect(escapes.count >= 40, "only \(escapes.count) escapes ran:\n\(output)")
        for line in escapes {
            #expect(line.ok, "\(line.name): expected \(line.expected ?? "?") got \(line.got ?? "?")")
            #expect(line.got != "success", "\(line.name) succeeded inside the sandbox")
        }
        for name in ["shell_pipeline", "python", "workdir_write_read", "tmp_write", "router_http", "tcp_socket_explicit_protocol"] {
            #expect(controls.contains { $0.name == name && $0.ok }, "positive control \(name) failed:\n\(output)")
        }
        #expect(exit == .exited(0), "airlock-escape \(exit):\n\(output)")
        #expect(output.contains("SUMMARY failures=0"))
    }
}

/// Listening Unix sockets on the host, as a system service would have them: stream, datagram and seqpacket files in
/// one directory (one of them owned by the worker's UID with mode 0600) and an abstract stream socket.
struct HostSockets {
    var fds: [Int32] = []
    let directory: String

    init(directory: String, abstractName: String, workerUID: UInt32) throws {
        self.directory = directory
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(directory, 0o755)
        for (file, type) in [("stream.sock", SOCK_STREAM), ("dgram.sock", SOCK_DGRAM), ("seqpacket.sock", SOCK_SEQPACKET),
                             ("worker.sock", SOCK_STREAM)] {
            fds.append(try Self.listen(type: Int32(type.rawValue), path: "\(directory)/\(file)", abstract: false))
            chmod("\(directory)/\(file)", file == "worker.sock" ? 0o600 : 0o777)
            if file == "worker.sock" { chown("\(directory)/\(file)", workerUID, workerUID) }
        }
        fds.append(try Self.listen(type: Int32(SOCK_STREAM.rawValue), path: abstractName, abstract: true))
    }

    static func listen(type: Int32, path: String, abstract: Bool) throws -> Int32 {
        let fd = socket(AF_UNIX, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let length = withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: (abstract ? [0] : []) + bytes)
            return (abstract ? 1 : 0) + bytes.count + (abstract ? 0 : 1)
        }
        let size = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + length)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) } }
        guard fd >= 0, bound == 0, type == Int32(SOCK_DGRAM.rawValue) || Glibc.listen(fd, 8) == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        return fd
    }

    func close() {
        fds.forEach { _ = Glibc.close($0) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
