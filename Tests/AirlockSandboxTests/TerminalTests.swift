import AirlockSandbox
import AirlockTestSupport
import CAirlockSandbox
import Foundation
import Glibc
import Testing

/// `airlock run` from an operator's terminal: the worker gets a pseudo-terminal of its own, relayed both ways, and
/// nothing it does to its terminal (settings, size, exclusive mode) reaches the operator's.
@Suite(.serialized)
struct TerminalTests {
    /// A pseudo-terminal standing in for the operator's: the test holds the master, `airlock run` gets the slave.
    struct OperatorTerminal {
        let master: Int32
        let slave: Int32

        init() throws {
            var master: Int32 = -1, slave: Int32 = -1
            guard airlock_pty_open(-1, &master, &slave) == 0 else { throw POSIXError(.EIO) }
            self.master = master
            self.slave = slave
            var size = winsize(ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0)
            _ = ioctl(slave, UInt(TIOCSWINSZ), &size)
        }

        var settings: termios {
            var value = termios()
            tcgetattr(slave, &value)
            return value
        }

        var size: winsize {
            var value = winsize()
            _ = ioctl(slave, UInt(TIOCGWINSZ), &value)
            return value
        }

        var exclusive: Int32 {
            var value: Int32 = 0
            _ = ioctl(slave, UInt(0x8004_5440) /* TIOCGEXCL */, &value)
            return value
        }

        func write(_ text: String) {
            _ = text.withCString { Glibc.write(master, $0, strlen($0)) }
        }

        /// Everything the master side receives until `done` is true and nothing more arrives for 200 ms.
        func readAll(until done: () -> Bool, seconds: Double = 30) -> String {
            var bytes: [UInt8] = []
            let deadline = Date().addingTimeInterval(seconds)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while Date() < deadline {
                var poller = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
                if poll(&poller, 1, 200) > 0 {
                    let n = read(master, &buffer, buffer.count)
                    if n > 0 { bytes += buffer.prefix(n) }
                    continue
                }
                if done() { break }
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    static let canRunModes = TestSupport.isRoot && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")

    /// Privileged is `airlock run` as root; the other two are what a launcher that is not root gets (started as UID
    /// 1000 with setpriv, as in the escape suite): the relay is the same in all three.
    @Test("the worker's stty, window size and TIOCEXCL change only its own pty; input and output are relayed",
          .enabled(if: canRunModes, "needs root, and setpriv to start the launcher as an ordinary user"),
          arguments: ["privileged", "user-namespace", "unprivileged"])
    func ownTerminal(mode: String) async throws {
        let terminal = try OperatorTerminal()
        defer {
            close(terminal.master)
            close(terminal.slave)
        }
        let before = terminal.settings
        let launcherUID: UInt32 = mode == "privileged" ? 0 : 1000
        let scratch = try TestSupport.makeDirectory(under: "/var/tmp", owner: 0)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        chmod(scratch, 0o755)
        let workdir = try TestSupport.makeDirectory(under: scratch, owner: launcherUID)
        let policy = "\(scratch)/policy.json"
        try #"{"seccompProfile": "\#(TestSupport.agentStrictProfile)"}"#.write(toFile: policy, atomically: false, encoding: .utf8)
        let script =
            "echo SIZE $(stty size); stty -echo -icanon cols 7 rows 3; "
            + "python3 -c 'import fcntl, sys, termios; fcntl.ioctl(0, termios.TIOCEXCL); print(\"TTY\", sys.stdin.isatty())'; "
            + "echo READY; read line; echo GOT:$line"
        let run = [
            "\(TestSupport.productsDirectory)/airlock", "run", "--no-router", "--no-seccomp-cache", "--policy", policy,
            "--workdir", workdir,
        ] + (mode == "unprivileged" ? ["--isolation", "unprivileged"] : []) + ["--", "/bin/sh", "-c", script]
        // The relay is watched and the worker waited for on a thread of their own, for up to seconds: not on one of
        // the few threads that run every test's tasks.
        let (status, output) = try await offPool { () throws -> (Int32, String) in
            let process = Process()
            if mode == "privileged" {
                process.executableURL = URL(fileURLWithPath: run[0])
                process.arguments = Array(run.dropFirst())
            } else {
                process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
                process.arguments = ["--reuid=\(launcherUID)", "--regid=\(launcherUID)", "--clear-groups"] + run
                process.environment = ["PATH": "/usr/bin:/bin", "TMPDIR": "/tmp", "TERM": "xterm"]
            }
            process.currentDirectoryURL = URL(fileURLWithPath: workdir)
            let handle = FileHandle(fileDescriptor: terminal.slave, closeOnDealloc: false)
            process.standardInput = handle
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            var sent = false
            let output = terminal.readAll(until: {
                if !sent {
                    // The worker turned its echo off: what the operator types is not shown twice.
                    sent = true
                    usleep(300_000)
                    terminal.write("hello\n")
                }
                return !process.isRunning
            })
            process.waitUntilExit()
            return (process.terminationStatus, output)
        }
        #expect(status == 0, "\(mode): \(output)")
        #expect(output.contains("SIZE 24 80"), "the worker starts with the operator's size: \(output)")
        #expect(output.contains("TTY True"), "\(output)")
        #expect(output.contains("GOT:hello"), "input reaches the worker: \(output)")
        let after = terminal.settings
        #expect(after.c_lflag == before.c_lflag, "the operator's local modes changed (echo, icanon)")
        #expect(after.c_iflag == before.c_iflag && after.c_oflag == before.c_oflag && after.c_cflag == before.c_cflag)
        #expect(terminal.size.ws_row == 24 && terminal.size.ws_col == 80, "the operator's window size changed")
        #expect(terminal.exclusive == 0, "the operator's terminal was left in exclusive mode")
    }
}
