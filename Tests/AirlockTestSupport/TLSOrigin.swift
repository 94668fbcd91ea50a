#if canImport(Glibc)
import Glibc
#endif
import CAirlockLinux
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
    private let process: ChildProcess

    static let script = #"""
        import base64, hashlib, http.server, os, ssl, subprocess, sys, zipfile
        cert, key, required, logpath = sys.argv[1:5]
        root = sys.argv[5] if len(sys.argv) > 5 else None

        def prepare(root):
            # A bare repository with one commit, for git's smart HTTP protocol through git http-backend.
            work = os.path.join(root, "work")
            env = dict(os.environ, GIT_AUTHOR_NAME="a", GIT_AUTHOR_EMAIL="a@b", GIT_COMMITTER_NAME="a", GIT_COMMITTER_EMAIL="a@b")
            subprocess.run(["git", "init", "-q", work], check=True)
            with open(os.path.join(work, "README"), "w") as f:
                f.write("hello from the inspected git server\n")
            subprocess.run(["git", "-C", work, "add", "README"], check=True, env=env)
            subprocess.run(["git", "-C", work, "commit", "-qm", "init"], check=True, env=env)
            os.makedirs(os.path.join(root, "git"))
            subprocess.run(["git", "clone", "-q", "--bare", work, os.path.join(root, "git", "repo.git")], check=True)
            # A PEP 503 simple index with one wheel.
            name = "airlock_demo_pkg-1.0-py3-none-any.whl"
            os.makedirs(os.path.join(root, "packages"))
            wheel = os.path.join(root, "packages", name)
            files = {
                "airlock_demo_pkg/__init__.py": "GREETING = 'installed through the inspected index'\n",
                "airlock_demo_pkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: airlock-demo-pkg\nVersion: 1.0\n",
                "airlock_demo_pkg-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            }
            record = ""
            with zipfile.ZipFile(wheel, "w") as z:
                for path, text in files.items():
                    z.writestr(path, text)
                    digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
                    record += f"{path},sha256={digest},{len(text.encode())}\n"
                record += "airlock_demo_pkg-1.0.dist-info/RECORD,,\n"
                z.writestr("airlock_demo_pkg-1.0.dist-info/RECORD", record)
            digest = hashlib.sha256(open(wheel, "rb").read()).hexdigest()
            os.makedirs(os.path.join(root, "simple", "airlock-demo-pkg"))
            with open(os.path.join(root, "simple", "airlock-demo-pkg", "index.html"), "w") as f:
                f.write(f'<html><body><a href="/packages/{name}#sha256={digest}">{name}</a></body></html>\n')

        if root:
            prepare(root)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *args):
                pass
            def body(self):
                if self.headers.get("transfer-encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("content-length") or 0)
                return self.rfile.read(length) if length else b""
            def send(self, code, data, headers=()):
                self.send_response(code)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            def git(self, data):
                path, _, query = self.path.partition("?")
                env = {"GIT_PROJECT_ROOT": os.path.join(root, "git"), "GIT_HTTP_EXPORT_ALL": "1", "PATH": "/usr/bin:/bin",
                       "PATH_INFO": path[len("/git"):], "REQUEST_METHOD": self.command, "QUERY_STRING": query,
                       "CONTENT_TYPE": self.headers.get("content-type", ""), "CONTENT_LENGTH": str(len(data)),
                       "REMOTE_USER": "agent", "HTTP_CONTENT_ENCODING": self.headers.get("content-encoding", ""),
                       "GIT_PROTOCOL": self.headers.get("git-protocol", "")}
                out = subprocess.run(["/usr/lib/git-core/git-http-backend"], input=data, env=env, capture_output=True).stdout
                head, _, payload = out.partition(b"\r\n\r\n")
                code, headers = 200, []
                for line in head.decode().split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.lower() == "status":
                        code = int(value.split()[0])
                    elif name:
                        headers.append((name, value.strip()))
                self.send(code, payload, headers)
            def static(self):
                path = os.path.normpath(root + self.path.partition("?")[0])
                if os.path.isdir(path):
                    path = os.path.join(path, "index.html")
                if not path.startswith(root + "/") or not os.path.isfile(path):
                    return self.send(404, b"not found\n")
                kind = "text/html" if path.endswith(".html") else "application/octet-stream"
                self.send(200, open(path, "rb").read(), [("content-type", kind)])
            def answer(self):
                data = self.body()
                with open(logpath, "a") as log:
                    log.write(f"{self.command} {self.path}\n")
                got = self.headers.get("authorization", "")
                if root and got == required and self.path.startswith("/git/"):
                    return self.git(data)
                if root and got == required and (self.path.startswith("/simple/") or self.path.startswith("/packages/")):
                    return self.static()
                code = 200 if got == required else 401
                if code == 200 and self.path.startswith("/repos/acme/big"):
                    # size=N bytes of 100-byte lines, the expected header's value in the middle, written in pieces.
                    size = int(self.path.partition("size=")[2] or 0)
                    line = b"y" * 99 + b"\n"
                    half = size // 200
                    marker = f"\nsecret {required}\n".encode()
                    self.send_response(200)
                    self.send_header("content-length", str(half * 200 + len(marker)))
                    self.send_header("x-upload-bytes", str(len(data)))
                    self.end_headers()
                    for i in range(2):
                        for _ in range(half // 100):
                            self.wfile.write(line * 100)
                        self.wfile.write(line * (half % 100))
                        if i == 0:
                            self.wfile.write(marker)
                    return
                if code == 200 and self.path.startswith("/repos/acme/redirect"):
                    code = 302
                body = "".join(f"{k}: {v}\n" for k, v in self.headers.items())
                body += f"expected {required}\nsaw {got}\n"
                headers = [("content-type", "text/plain"), ("x-echo-authorization", got)]
                if code == 302:
                    headers.append(("location", "https://elsewhere.test/"))
                if code == 401:
                    headers.append(("www-authenticate", 'Basic realm="test"'))
                self.send(code, body.encode(), headers)
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

    /// `content`: also serve a git repository at `/git/repo.git` (smart HTTP through `git http-backend`) and a
    /// PEP 503 index at `/simple/` with the wheel `airlock-demo-pkg` 1.0, both behind the same `required` header.
    public init(names: [String], required: String, content: Bool = false) throws {
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
        var out: [Int32] = [-1, -1]
        guard airlock_pipe_cloexec(&out) == 0 else { throw TestSupportError("pipe2: errno \(errno)") }
        let fd = out[0]
        defer { close(fd) }
        let arguments = [directory + "/origin.py", directory + "/cert.pem", directory + "/key.pem", required, log]
            + (content ? [directory + "/content"] : [])
        let writeEnd = out[1]
        let started = Result { try ChildProcess.spawn("/usr/bin/python3", arguments, stdout: writeEnd) }
        close(out[1])
        process = try started.get()
        // The first line is the port the kernel picked.
        var line: [UInt8] = []
        var byte: UInt8 = 0
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
        let made = try Spawn.run("/usr/bin/openssl", arguments, environment: ProcessInfo.processInfo.environment)
        guard made.status == 0 else { throw TestSupportError("openssl \(arguments[0]) failed: \(made.error)") }
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
