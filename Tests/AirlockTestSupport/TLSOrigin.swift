#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A real HTTPS origin on loopback for the egress inspection tests: Python's `http.server` behind `ssl`, with a
/// certificate for `names` from a CA of its own (`caFile`, which the router is given as the host's bundle). It
/// requires `Authorization: <required>` (401 otherwise), answers `/redirect...` with a 302, and echoes the request's
/// headers and the secret it expects in its answer's body and in `x-echo-authorization`, so a test can see whether
/// the secret reaches the agent. Every request it receives is appended to `log` (`METHOD PATH`).
public final class TLSOrigin: @unchecked Sendable {
    public let directory: String
    public let caFile: String
    public let port: Int
    public let log: String
    private let process = Process()

    static let script = #"""
        import http.server, ssl, sys
        cert, key, required, logpath = sys.argv[1:5]
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *args):
                pass
            def answer(self):
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                with open(logpath, "a") as log:
                    log.write(f"{self.command} {self.path}\n")
                got = self.headers.get("authorization", "")
                code = 200 if got == required else 401
                if code == 200 and self.path.startswith("/repos/acme/redirect"):
                    code = 302
                body = "".join(f"{k}: {v}\n" for k, v in self.headers.items())
                body += f"expected {required}\nsaw {got}\n"
                data = body.encode()
                self.send_response(code)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(data)))
                self.send_header("x-echo-authorization", got)
                if code == 302:
                    self.send_header("location", "https://elsewhere.test/")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = answer
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """#

    public static var available: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")
    }

    public init(names: [String], required: String) throws {
        directory = TempDirectory.make()
        chmod(directory, 0o755)
        caFile = directory + "/origin-ca.pem"
        log = directory + "/requests.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let san = names.map { "DNS:\($0)" }.joined(separator: ",")
        try Self.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                          "-subj", "/CN=Test origin CA", "-keyout", directory + "/origin-ca.key", "-out", caFile])
        try Self.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=\(names[0])",
                          "-keyout", directory + "/key.pem", "-out", directory + "/req.pem"])
        try TempDirectory.write(directory + "/ext.cnf", "subjectAltName=\(san)\n", mode: 0o644)
        try Self.openssl(["x509", "-req", "-in", directory + "/req.pem", "-CA", caFile, "-CAkey", directory + "/origin-ca.key",
                          "-CAcreateserial", "-days", "1", "-extfile", directory + "/ext.cnf", "-out", directory + "/cert.pem"])
        try TempDirectory.write(directory + "/origin.py", Self.script, mode: 0o644)
        let out = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [directory + "/origin.py", directory + "/cert.pem", directory + "/key.pem", required, log]
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The first line is the port the kernel picked.
        var line: [UInt8] = []
        var byte: UInt8 = 0
        let fd = out.fileHandleForReading.fileDescriptor
        while true {
            let n = read(fd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 || byte == UInt8(ascii: "\n") { break }
            line.append(byte)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else {
            kill(process.processIdentifier, SIGKILL)
            throw TestSupportError("the TLS origin did not start")
        }
        self.port = port
    }

    /// The requests the origin received, `METHOD PATH` each.
    public func requests() -> [String] {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    private static func openssl(_ arguments: [String]) throws {
        let make = Process()
        make.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        make.arguments = arguments
        make.standardError = FileHandle.nullDevice
        make.standardOutput = FileHandle.nullDevice
        try make.run()
        make.waitUntilExit()
        guard make.terminationStatus == 0 else { throw TestSupportError("openssl \(arguments[0]) failed") }
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
