#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A throwaway PostgreSQL server for tests: a fresh cluster in a temporary directory, listening only on 127.0.0.1
/// (no Unix socket), password authentication (scram-sha-256) for user `airlock`. PostgreSQL refuses to run as
/// root, so under root it runs as `nobody` (setpriv) and its directory is chowned to it.
public final class PostgresServer: @unchecked Sendable {
    public let directory: String
    /// Chosen before the server starts; moved if another socket takes it first (see `start`), then fixed.
    public private(set) var port: Int
    public let user = "airlock"
    public let database = "airlock"
    public let password: String
    /// The password in a file of mode 0600 owned by the test's user, as the router wants it.
    public let passwordFile: String
    /// With `tls`: the CA that signed the server's certificate (for `localhost` and 127.0.0.1), and one that did not.
    public let caFile: String
    public let otherCAFile: String
    public let tls: Bool
    private let bin: String
    private let data: String
    private let lock = NSLock()
    private var process: ChildProcess?

    /// Where the server binaries are: the newest /usr/lib/postgresql/N/bin with `postgres`, `initdb` and `psql`.
    static let binaries: String? = {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        for version in versions.reversed() {
            let bin = "\(root)/\(version)/bin"
            if ["postgres", "initdb", "psql"].allSatisfy({ FileManager.default.isExecutableFile(atPath: "\(bin)/\($0)") }) {
                return bin
            }
        }
        return nil
    }()

    /// Why a PostgreSQL server cannot run here, or nil when it can. Tests that need one are skipped with this
    /// message (`.enabled(if: PostgresServer.unavailable == nil, ...)`), never silently.
    public static let unavailable: String? = {
        guard binaries != nil else {
            return "PostgreSQL server binaries are not installed (/usr/lib/postgresql/N/bin); run scripts/install-deps.sh"
        }
        if getuid() == 0 && !FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") {
            return "running as root, PostgreSQL must run as another user, and /usr/bin/setpriv (util-linux) is missing"
        }
        return nil
    }()

    private init(bin: String, directory: String, port: Int, password: String, tls: Bool) {
        self.bin = bin
        self.directory = directory
        self.port = port
        self.password = password
        self.tls = tls
        data = directory + "/data"
        passwordFile = directory + "/client/password"
        caFile = directory + "/client/ca.crt"
        otherCAFile = directory + "/client/other-ca.crt"
    }

    /// Creates a cluster and starts it; `durable: false` turns off fsync (tests), true keeps the defaults (bench).
    /// `tls`: the server accepts TLS connections only (`hostssl`), with a certificate from a CA made for the run.
    public static func start(durable: Bool = false, maxConnections: Int = 200, tls: Bool = false) async throws -> PostgresServer {
        if let unavailable { throw TestSupportError(unavailable) }
        guard let bin = binaries else { throw TestSupportError("no PostgreSQL binaries") }
        let directory = TempDirectory.make()
        chmod(directory, 0o755)
        let password = "pw-\(UInt64.random(in: 0...UInt64.max))"
        let server = PostgresServer(bin: bin, directory: directory, port: Loopback.freePort(), password: password, tls: tls)
        mkdir(directory + "/client", 0o700)
        try TempDirectory.write(server.passwordFile, password + "\n", mode: 0o600)
        mkdir(server.data, 0o700)
        let serverPassword = directory + "/server-password"
        try TempDirectory.write(serverPassword, password + "\n", mode: 0o600)
        if getuid() == 0 {
            chown(server.data, 65534, 65534)
            chown(serverPassword, 65534, 65534)
        }
        let initdb = try await server.run(
            "\(bin)/initdb",
            ["-D", server.data, "-U", server.user, "--pwfile=\(serverPassword)", "--auth=scram-sha-256", "--no-sync",
             "-E", "UTF8", "--locale=C"]
        )
        unlink(serverPassword)
        guard initdb.status == 0 else { throw TestSupportError("initdb failed: \(initdb.output)") }
        var settings = ["max_connections = \(maxConnections)", "listen_addresses = '127.0.0.1'",
                        "unix_socket_directories = ''", "shared_buffers = '32MB'"]
        if !durable { settings += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"] }
        try server.appendConfiguration(settings)
        if tls { try await server.makeCertificates() }
        // The port was free when chosen, but any socket may take it before the server binds it (an outgoing
        // connection of a test running alongside gets an ephemeral port from the same range): a new port then.
        for attempt in 1... {
            do {
                try server.appendConfiguration(["port = \(server.port)"])
                try await server.launch()
                break
            } catch is PortTaken where attempt < 5 {
                server.port = Loopback.freePort()
            }
        }
        try await server.psql("CREATE DATABASE \(server.database)", database: "postgres")
        return server
    }

    /// A later line wins in postgresql.conf.
    private func appendConfiguration(_ lines: [String]) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: data + "/postgresql.conf"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(("\n" + lines.joined(separator: "\n") + "\n").utf8))
        try handle.close()
    }

    /// The server could not bind its port: something else holds it.
    struct PortTaken: Error, CustomStringConvertible {
        let description: String
    }

    /// Starts the server again, after `stop`, on the same port and data, and waits until it answers. The port
    /// the stopped server freed may be held for a moment by another socket: it is tried for up to 10 s.
    public func startServer() async throws {
        for attempt in 1... {
            do {
                return try await launch()
            } catch is PortTaken where attempt < 10 {
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func launch() async throws {
        let log = directory + "/server.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let (executable, arguments) = asServerUser("\(bin)/postgres", ["-D", data])
        let logFD = open(log, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard logFD >= 0 else { throw TestSupportError("cannot open \(log): errno \(errno)") }
        let started = Result { try ChildProcess.spawn(executable, arguments, stderr: logFD) }
        // The child has its copy; the test process keeps as few descriptors as it can.
        close(logFD)
        let process = try started.get()
        lock.withLock { self.process = process }
        let port = self.port
        let ready = await eventually(seconds: 30) {
            guard process.isRunning else { return true }
            // A psql process only once the port accepts connections: test processes spawn few children.
            guard (try? RawSocket(port: port, timeoutSeconds: 1)) != nil else { return false }
            return (try? await self.psql("SELECT 1", database: "postgres")) == "1"
        }
        guard ready, process.isRunning else {
            process.signal(SIGTERM)
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            let message = "PostgreSQL did not start on 127.0.0.1:\(port): \(text)"
            if text.contains("Address already in use") { throw PortTaken(description: message) }
            throw TestSupportError(message)
        }
    }

    /// Stops the server (SIGINT: fast shutdown, connections are cut) and waits until it has exited.
    public func stop() async throws {
        guard let process = lock.withLock({ self.process }) else { return }
        process.signal(SIGINT)
        let exited = await eventually(seconds: 20) { !process.isRunning }
        if !exited {
            kill(process.processIdentifier, SIGKILL)
            _ = await eventually(seconds: 5) { !process.isRunning }
        }
        lock.withLock { self.process = nil }
    }

    /// Runs SQL with psql as `airlock` and returns its unaligned, tuples-only output, trimmed. On a thread of its
    /// own: the cooperative pool's few threads are for the code under test.
    @discardableResult
    public func psql(_ sql: String, database: String? = nil) async throws -> String {
        try await offPool { try self.psqlBlocking(sql, database: database) }
    }

    private func psqlBlocking(_ sql: String, database: String?) throws -> String {
        let result = try Spawn.run(
            "\(bin)/psql",
            ["-h", "127.0.0.1", "-p", "\(port)", "-U", user, "-d", database ?? self.database,
             "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            environment: ["PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5", "LC_ALL": "C", "PATH": "/usr/bin:/bin",
                          "PGSSLMODE": tls ? "require" : "disable"]
        )
        guard result.status == 0 else {
            throw TestSupportError("psql \(sql): \(result.error)")
        }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// An integer a query returns (one row, one column).
    public func integer(_ sql: String) async throws -> Int {
        let text = try await psql(sql)
        guard let value = Int(text) else { throw TestSupportError("\(sql) returned \(text.debugDescription)") }
        return value
    }

    /// The `ledger.postgres` block of a router configuration for this server, indented for `ledger:`.
    public func ledgerYAML(extra: [String] = []) -> String {
        (["    host: 127.0.0.1", "    port: \(port)", "    database: \(database)", "    user: \(user)",
          "    password_file: \(passwordFile)", "    tls: disable"] + extra.map { "    " + $0 }).joined(separator: "\n")
    }

    /// A CA and a server certificate for `localhost` and 127.0.0.1 (EC P-256, two days), another CA that signed
    /// nothing; `ssl = on`, and every TCP login must use TLS.
    private func makeCertificates() async throws {
        let work = directory + "/pki"
        mkdir(work, 0o700)
        try TempDirectory.write(work + "/san.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\n", mode: 0o600)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        let steps: [[String]] = [
            ["req", "-x509"] + ec + ["-keyout", work + "/ca.key", "-out", caFile, "-days", "2", "-subj", "/CN=airlock test CA"],
            ["req", "-x509"] + ec + ["-keyout", work + "/other.key", "-out", otherCAFile, "-days", "2", "-subj", "/CN=airlock other CA"],
            ["req"] + ec + ["-keyout", data + "/server.key", "-out", work + "/server.csr", "-subj", "/CN=localhost"],
            ["x509", "-req", "-in", work + "/server.csr", "-CA", caFile, "-CAkey", work + "/ca.key", "-CAcreateserial",
             "-out", data + "/server.crt", "-days", "2", "-extfile", work + "/san.ext"],
        ]
        for step in steps {
            let result = try await run("/usr/bin/openssl", step, asServer: false)
            guard result.status == 0 else { throw TestSupportError("openssl \(step.joined(separator: " ")): \(result.output)") }
        }
        chmod(data + "/server.key", 0o600)
        if getuid() == 0 {
            chown(data + "/server.key", 65534, 65534)
            chown(data + "/server.crt", 65534, 65534)
        }
        let hba = data + "/pg_hba.conf"
        let rules = try String(contentsOfFile: hba, encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("host ") ? "hostssl" + $0.dropFirst(4) : $0 }
            .joined(separator: "\n")
        try rules.write(toFile: hba, atomically: false, encoding: .utf8)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: data + "/postgresql.conf"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n".utf8))
        try handle.close()
    }

    private func asServerUser(_ executable: String, _ arguments: [String]) -> (String, [String]) {
        guard getuid() == 0 else { return (executable, arguments) }
        return ("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", executable] + arguments)
    }

    /// Runs a program to its end (as the server's user unless `asServer` is false); its status and output.
    private func run(_ executable: String, _ arguments: [String], asServer: Bool = true) async throws -> (status: Int32, output: String) {
        let (path, args) = asServer ? asServerUser(executable, arguments) : (executable, arguments)
        return try await offPool {
            // From "/": the test's own working directory may be closed to the server's user.
            let result = try Spawn.run(
                "/usr/bin/env", ["-C", "/", path] + args, environment: ["LC_ALL": "C", "PATH": "/usr/bin:/bin"])
            return (result.status, result.output + result.error)
        }
    }

    deinit {
        process?.signal(SIGINT)
    }
}
