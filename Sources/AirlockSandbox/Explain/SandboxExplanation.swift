import CSeccomp

#if canImport(Glibc)
import Glibc
#endif

/// The effective sandbox as text, for `airlock policy explain`.
public struct SandboxExplanation: Sendable {
    public var launcher: SandboxLauncher

    public init(launcher: SandboxLauncher) {
        self.launcher = launcher
    }

    public var text: String {
        var lines: [String] = []
        let policy = launcher.policy, isolation = launcher.isolation, landlock = launcher.landlock
        lines.append("mode: \(isolation.mode.rawValue); worker uid \(isolation.uid) gid \(isolation.gid)")
        lines.append("")
        lines.append("capabilities:")
        if isolation.mode == .unprivileged {
            lines.append("  inherited (not root): no_new_privs prevents gaining any")
        } else {
            lines.append("  bounding, ambient, permitted, effective, inheritable: all empty")
            lines.append("  securebits: NOROOT, NO_SETUID_FIXUP, KEEP_CAPS off, NO_CAP_AMBIENT_RAISE — all locked")
        }
        lines.append("  no_new_privs: set; parent-death signal: SIGKILL; new session (setsid)")
        lines.append("")
        lines.append("namespaces and mounts:")
        if isolation.hasMountNamespace {
            lines.append("  new mount, pid, net, ipc, uts (and cgroup) namespaces")
            lines.append("  /            empty tmpfs, read-only: only the entries below exist (no /sys, /home, /root, /var, /srv, /mnt, /media)")
            for entry in launcher.view.entries {
                switch entry {
                case .bind(let path): lines.append("  \(path)  host's, read-only, nosuid, nodev (recursive)")
                case .symlink(let path, let target): lines.append("  \(path) -> \(target)")
                case .file(let path, _): lines.append("  \(path)  written by the launcher")
                }
            }
            lines.append("  /run         empty tmpfs, read-only")
            lines.append("  \(launcher.workdir)  read-write (workdir)")
            for path in policy.readwritePaths { lines.append("  \(path)  read-write") }
            lines.append("  /tmp         private tmpfs (size \(policy.tmpSize))")
            lines.append("  /dev         tmpfs: null zero full random urandom tty, pts (new instance), shm")
            lines.append("  /proc        fresh procfs for the sandbox's pid namespace")
            for path in policy.hiddenPaths { lines.append("  \(path)  hidden (empty mode-000 tmpfs, or /dev/null on nodev)") }
        }
        if let temporary = launcher.privateTemporary {
            lines.append("  TMPDIR       \(temporary) (private, 0700; the host's /tmp and /dev/shm are not writable)")
        }
        for skipped in isolation.skipped { lines.append("  not applied: \(skipped)") }
        lines.append("")
        lines.append("network:")
        if isolation.hasNetworkNamespace {
            lines.append("  own network namespace with only lo (up)")
            lines.append("  router listeners inside it: " + policy.routerPorts.map { "127.0.0.1:\($0)" }.joined(separator: ", "))
        } else {
            lines.append("  host network namespace")
        }
        lines.append("")
        lines.append("landlock: kernel ABI \(landlock.abi), mode \(policy.landlock.rawValue)")
        lines.append("  handled fs: \(LandlockAccess.names(landlock.handledFilesystem))")
        for rule in landlock.pathRules { lines.append("  \(rule.path): \(LandlockAccess.names(rule.access & landlock.handledFilesystem))") }
        if landlock.handledNetwork != 0 {
            lines.append("  tcp connect only to ports: \(landlock.connectPorts.map(String.init).joined(separator: ", ")); tcp bind: none")
        }
        if landlock.scoped != 0 { lines.append("  scoped: abstract unix sockets, signals (to the sandbox's own domain)") }
        for missing in landlock.missing { lines.append("  missing: \(missing)") }
        lines.append("")
        lines.append("rlimits:")
        for (name, value) in limitRows(policy.limits) { lines.append("  \(name): \(value)") }
        lines.append("")
        lines.append(contentsOf: seccompLines())
        return lines.joined(separator: "\n")
    }

    private func limitRows(_ l: ResourceLimits) -> [(String, String)] {
        let rows: [(String, UInt64?)] = [
            ("NOFILE", l.openFiles), ("NPROC", l.processes), ("AS", l.addressSpaceBytes), ("FSIZE", l.fileSizeBytes),
            ("CPU", l.cpuSeconds), ("CORE", l.coreBytes),
        ]
        return rows.map { ($0.0, $0.1.map(String.init) ?? "inherited") }
    }

    private func seccompLines() -> [String] {
        guard let program = launcher.seccomp else { return ["seccomp: none"] }
        guard let s = program.summary else {
            return ["seccomp: \(program.instructionCount) BPF instructions (from the cache; explain compiles the profile)"]
        }
        var lines = ["seccomp: \(program.instructionCount) BPF instructions, default \(s.defaultAction), arches \(s.architectures.joined(separator: ", "))"]
        for (name, action) in s.explicit.sorted(by: { $0.key < $1.key }) { lines.append("  \(name): \(action)") }
        for (name, conditions) in s.conditional.sorted(by: { $0.key < $1.key }) {
            lines.append("  \(name): \(conditions.joined(separator: "; ")), otherwise \(s.defaultAction)")
        }
        let mentioned = Set(s.allowed).union(s.explicit.keys).union(s.conditional.keys)
        var blocked: [String] = []
        for number in 0..<1024 {
            guard let cName = seccomp_syscall_resolve_num_arch(seccomp_arch_native(), Int32(number)) else { continue }
            let name = String(cString: cName)
            free(cName)
            if !mentioned.contains(name) { blocked.append(name) }
        }
        lines.append("  blocked (\(s.defaultAction)): \(blocked.joined(separator: " "))")
        if !s.unknown.isEmpty { lines.append("  unknown to libseccomp \(SeccompCompiler.libseccompVersion), ignored: \(s.unknown.joined(separator: " "))") }
        if s.skippedRules > 0 { lines.append("  rules skipped by includes/excludes: \(s.skippedRules)") }
        return lines
    }
}

extension SeccompCompiler {
    public static var libseccompVersion: String {
        guard let v = seccomp_version() else { return "?" }
        return "\(v.pointee.major).\(v.pointee.minor).\(v.pointee.micro)"
    }
}
