@testable import AirlockSandbox
import Foundation
import Glibc
import Testing

/// What the worker's view may hold, and who the worker may be, decided before anything is forked.
struct RootViewTests {
    func refusal(_ configure: (inout SandboxPolicy) -> Void) -> String? {
        var policy = SandboxPolicy()
        configure(&policy)
        do {
            _ = try RootView(policy: policy, uid: 480_000, gid: 480_000, home: "/work")
            return nil
        } catch let error as SandboxLaunchError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test("a policy path that would show a host socket directory is refused, with the key and what to do",
          arguments: [
              ("/", "/run"), ("/var", "/var/run"), ("/run", "/run"), ("/run/dbus", "/run"), ("/var/run/postgresql", "/var/run"),
              ("/tmp", "/tmp"), ("/dev", "/dev"), ("/sys/class", "/sys"), ("/proc/1", "/proc"), ("/var/tmp", "/var/tmp"),
          ])
    func socketDirectories(path: String, directory: String) throws {
        let message = try #require(refusal { $0.readonlyPaths = [path] })
        #expect(message.hasPrefix("readonlyPaths: \"\(path)\" would show the host's \(directory)"), "\(message)")
        #expect(message.contains("allowSocketPaths"))
        let writable = try #require(refusal { $0.readwritePaths = [path] })
        #expect(writable.hasPrefix("readwritePaths: \"\(path)\""), "\(writable)")
    }

    @Test("a workdir that is or contains a socket directory is refused before anything starts",
          arguments: ["/", "/tmp", "/run", "/var", "/dev/shm"])
    func workdirExposingSockets(workdir: String) throws {
        var policy = SandboxPolicy()
        policy.workdir = workdir
        do {
            _ = try SandboxLauncher(policy: policy)
            Issue.record("accepted workdir \(workdir)")
        } catch let error as SandboxLaunchError {
            #expect(error.message.hasPrefix("workdir: \"\(workdir)\" would show the host's"), "\(error.message)")
        }
    }

    @Test("a socket directory named in allowSocketPaths, and a directory of one's own inside /tmp, are accepted")
    func namedOnPurpose() throws {
        #expect(refusal { $0.readonlyPaths = ["/run"]; $0.allowSocketPaths = ["/run"] } == nil)
        let own = try TestSupport.makeDirectory(under: "/tmp", owner: getuid())
        defer { rmdir(own) }
        #expect(refusal { $0.readonlyPaths = [own] } == nil)
        #expect(refusal { $0.readonlyPaths = ["/nonexistent-airlock"] }?.contains("No such file") == true)
        #expect(refusal { $0.readonlyPaths = ["relative/path"] }?.contains("must be an absolute path") == true)
        #expect(refusal { $0.readonlyPaths = ["/usr/../run"] }?.contains("must be an absolute path") == true)
    }

    @Test("the base view lists /usr, a curated /etc and generated account files, and nothing of /home, /var or /run")
    func baseView() throws {
        let view = try RootView(policy: SandboxPolicy(), uid: 480_000, gid: 480_001, home: "/work")
        let paths = view.entries.map(\.path)
        #expect(paths.contains("/usr"))
        #expect(paths.contains("/etc/ssl") || !FileManager.default.fileExists(atPath: "/etc/ssl"))
        for absent in ["/home", "/root", "/var", "/run", "/sys", "/srv", "/mnt", "/media", "/etc/shadow", "/etc/sudoers", "/opt"] {
            #expect(!paths.contains(absent), "\(absent) is in the view")
        }
        guard case .file(_, let passwd)? = view.entries.first(where: { $0.path == "/etc/passwd" }) else {
            Issue.record("no generated /etc/passwd")
            return
        }
        #expect(passwd.contains("airlock:x:480000:480001:Airlock worker:/work:/bin/sh"))
        #expect(passwd.split(separator: "\n").count == 3)
    }

    @Test("a worker UID or GID that a host account owns is refused by name unless hostAccount names it")
    func hostAccounts() throws {
        let accounts = HostAccounts(subuidPath: "/nonexistent", subgidPath: "/nonexistent")
        // Every Debian host has `nobody` (65534) in passwd and `nogroup` in group.
        let nobody = try #require(getpwnam("nobody")).pointee
        do {
            try accounts.check(uid: nobody.pw_uid, gid: 480_000, allowed: nil)
            Issue.record("accepted nobody's uid")
        } catch let error as SandboxLaunchError {
            #expect(error.message.hasPrefix("the worker's uid \(nobody.pw_uid) belongs to user \"nobody\" in /etc/passwd"), "\(error.message)")
            #expect(error.message.contains("480000–480999"))
        }
        #expect(throws: SandboxLaunchError.self) { try accounts.check(uid: 480_000, gid: nobody.pw_gid, allowed: nil) }
        try accounts.check(uid: nobody.pw_uid, gid: nobody.pw_gid, allowed: "nobody")
        try accounts.check(uid: 480_000, gid: 480_000, allowed: nil)
        #expect(throws: SandboxLaunchError.self) { try accounts.check(uid: 480_000, gid: 480_000, allowed: "no-such-account-airlock") }
    }

    @Test("a worker UID inside another user's subordinate range (their containers' files) is refused")
    func subordinateRanges() throws {
        let path = "/tmp/airlock-subuid-\(getpid())"
        try "alice:100000:65536\nbroken line\nbob:479000:65536\n".write(toFile: path, atomically: false, encoding: .utf8)
        defer { unlink(path) }
        let accounts = HostAccounts(subuidPath: path, subgidPath: path)
        do {
            try accounts.check(uid: 480_000, gid: 480_000, allowed: nil)
            Issue.record("accepted a uid in bob's subordinate range")
        } catch let error as SandboxLaunchError {
            #expect(error.message.contains("the subordinate range of \"bob\" in \(path) (479000–544535)"), "\(error.message)")
        }
        try accounts.check(uid: 470_000, gid: 470_000, allowed: nil)
    }
}
