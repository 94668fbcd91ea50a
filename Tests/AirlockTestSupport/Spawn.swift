#if canImport(Glibc)
import Glibc
#endif
import CAirlockLinux

/// Runs a program to its end with `posix_spawn`, capturing what it writes, without Foundation's `Process`.
///
/// On Linux, `Process.run` lists `/proc/self/fd` with a read that can run past the end of glibc's directory buffer
/// once the process holds more than about 1,300 descriptors (swift-corelibs-foundation pull request 5472), and the
/// test process does while many suites run at once: it crashed the whole test run, most often while the PostgreSQL
/// tests spawned `psql` for each query. Programs spawned often go through here instead.
public enum Spawn {
    public struct Result: Sendable {
        public let status: Int32
        public let output: String
        public let error: String
    }

    /// Runs `path` with `arguments` and exactly `environment`, stdin from /dev/null, and returns its exit status (128
    /// plus the signal number if a signal ended it) with its stdout and stderr. Blocks: call it off the cooperative
    /// pool (`offPool`). A program still running after `seconds` is killed (SIGKILL) and the run fails.
    public static func run(
        _ path: String, _ arguments: [String], environment: [String: String], seconds: Double = 120
    ) throws -> Result {
        var out: [Int32] = [-1, -1]
        var err: [Int32] = [-1, -1]
        // Close-on-exec from the start: not inherited by children other tests spawn meanwhile (they would hold the
        // write ends open).
        guard airlock_pipe_cloexec(&out) == 0 else { throw TestSupportError("pipe2: errno \(errno)") }
        guard airlock_pipe_cloexec(&err) == 0 else {
            close(out[0])
            close(out[1])
            throw TestSupportError("pipe2: errno \(errno)")
        }
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if null >= 0 { close(null) } }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: Int32 = 0
        // Every other descriptor of the test process closed in the child.
        let spawned = -airlock_spawn_piped(path, argv, envp, null, out[1], err[1], &pid)
        close(out[1])
        close(err[1])
        guard spawned == 0 else {
            close(out[0])
            close(err[0])
            throw TestSupportError("cannot run \(path): errno \(spawned)")
        }
        let (stdout, stderr, finished) = drain(out[0], err[0], child: pid, seconds: seconds)
        close(out[0])
        close(err[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard finished else {
            throw TestSupportError(
                "\(path) \(arguments.joined(separator: " ")) did not finish within \(seconds) s and was killed; it wrote: "
                    + String(decoding: stdout + stderr, as: UTF8.self))
        }
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(
            status: code, output: String(decoding: stdout, as: UTF8.self), error: String(decoding: stderr, as: UTF8.self))
    }

    /// Reads both descriptors to their ends, whichever has data first, so a child filling one pipe never blocks.
    /// Past `seconds` the child is killed; reading stops a few seconds later even if something it started still
    /// holds a pipe open. Returns whether the child finished in time.
    private static func drain(_ first: Int32, _ second: Int32, child: pid_t, seconds: Double) -> ([UInt8], [UInt8], Bool) {
        var results: [[UInt8]] = [[], []]
        var fds = [pollfd(fd: first, events: Int16(POLLIN), revents: 0), pollfd(fd: second, events: Int16(POLLIN), revents: 0)]
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var deadline = monotonicSeconds() + seconds
        var killed = false
        while fds.contains(where: { $0.fd >= 0 }) {
            let left = deadline - monotonicSeconds()
            if left <= 0 {
                if killed { break }
                kill(child, SIGKILL)
                killed = true
                deadline = monotonicSeconds() + 5
                continue
            }
            guard poll(&fds, nfds_t(fds.count), Int32(min(left * 1000, 1_000_000)) + 1) >= 0 else {
                if errno == EINTR { continue }
                break
            }
            for i in fds.indices where fds[i].fd >= 0 && fds[i].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    results[i].append(contentsOf: buffer[0..<n])
                } else if n == 0 || errno != EINTR {
                    fds[i].fd = -1
                }
            }
        }
        return (results[0], results[1], !killed)
    }

    private static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
