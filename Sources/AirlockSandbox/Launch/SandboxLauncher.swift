#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CAirlockSandbox

/// Prepares a sandbox once (policy, seccomp compilation, Landlock plan) so that starting a worker only forks.
public struct SandboxLauncher: Sendable {
    public struct Options: Sendable {
        /// Worker identity overrides (`--uid/--gid`); privileged mode only.
        public var uid: UInt32?
        public var gid: UInt32?
        /// Overrides the policy's workdir (`--workdir`).
        public var workdir: String?
        /// Where compiled seccomp programs are kept between launches; nil compiles the profile every time.
        public var seccompCache: SeccompCache?
        /// Test seam: make this child stage fail with this errno.
        public var injectedFailure: (stage: airlock_stage, errno: Int32)?
        /// A weaker mode than the launcher would pick (`--isolation`); refused as root.
        public var isolation: IsolationPlan.Mode?
        /// When a standard descriptor is a terminal, give the worker a pseudo-terminal of its own and relay it
        /// (`airlock run` does; one such sandbox per process).
        public var terminal = false
        /// Names of the caller's environment variables the worker gets (`--pass-env`); nothing else is inherited.
        public var passEnvironment: [String] = []

        public init(uid: UInt32? = nil, gid: UInt32? = nil, workdir: String? = nil, seccompCache: SeccompCache? = nil,
                    terminal: Bool = false, isolation: IsolationPlan.Mode? = nil)
        {
            self.isolation = isolation
            self.terminal = terminal
            self.uid = uid
            self.gid = gid
            self.workdir = workdir
            self.seccompCache = seccompCache
        }
    }

    public let policy: SandboxPolicy
    public let isolation: IsolationPlan
    public let landlock: LandlockPlan
    public let seccomp: SeccompProgram?
    public let workdir: String
    /// The worker's filesystem (with a mount namespace), and what Landlock lets it read in every mode.
    public let view: RootView
    /// Without a mount namespace: the private directory the worker gets as TMPDIR instead of the host's /tmp.
    public let privateTemporary: String?
    /// Why a cached seccomp program was not used, when one was refused.
    public let seccompCacheProblem: String?
    let options: Options

    /// Everything that can fail before fork fails here, with a message naming the file or setting.
    public init(policy: SandboxPolicy, options: Options = Options()) throws {
        self.policy = policy
        self.options = options
        isolation = try IsolationPlan.make(policy: policy, uid: options.uid, gid: options.gid, requested: options.isolation)
        workdir = try Self.canonicalWorkdir(options.workdir ?? policy.workdir)
        // The workdir is bound read-write: "/", /tmp or /run as the workdir would show the host's sockets.
        try RootView.check(workdir, key: "workdir", policy: policy, mustExist: false)
        view = try RootView(policy: policy, uid: isolation.uid, gid: isolation.gid, home: workdir)
        privateTemporary = isolation.hasMountNamespace ? nil : Self.privateTemporaryPath()
        // With a mount namespace the view is the allowlist, so the worker may read all of it (and list "/" and the
        // curated /etc); without one Landlock alone holds reads to the same allowlist on the host's tree.
        landlock = LandlockPlan(policy: policy, readable: isolation.hasMountNamespace ? ["/"] : view.readablePaths,
                                workdir: workdir,
                                temporary: privateTemporary.map { [$0] } ?? ["/tmp", "/dev/shm"])
        if policy.landlock == .required, let missing = landlock.missing.first(where: Self.isEssential) {
            throw SandboxLaunchError(code: .landlockUnavailable,
                                     message: "\(missing); the policy says landlock: required (use best-effort to run anyway)")
        }
        if let path = policy.seccompProfile {
            // Without a network namespace listen() would auto-bind a port on the host's addresses (Landlock
            // mediates bind(), not the implicit bind of listen()), so the syscall is refused outright.
            let refused = isolation.hasNetworkNamespace ? [] : ["listen"]
            (seccomp, seccompCacheProblem) = try Self.seccompProgram(profile: path, cache: options.seccompCache, refused: refused)
        } else {
            (seccomp, seccompCacheProblem) = (nil, nil)
        }
    }

    /// The profile's program from the cache when a trustworthy entry exists, else compiled (and then stored).
    private static func seccompProgram(profile path: String, cache: SeccompCache?, refused: [String]) throws
        -> (SeccompProgram, String?)
    {
        let bytes = try readFile(path)
        let target = SeccompCompiler.Target()
        var key: [UInt8] = []
        var problem: String?
        if let cache {
            key = SeccompCache.key(profile: bytes, target: target, refused: refused)
            switch cache.load(key: key) {
            case .hit(let program): return (program, nil)
            case .miss: break
            case .refused(let why): problem = why
            }
        }
        let program: SeccompProgram
        do {
            program = try SeccompCompiler(target: target).compile(try OCISeccompProfile.decode(bytes).removing(refused))
        } catch {
            throw PolicyFileError(path: path, message: error.description)
        }
        // A failed store costs the next launch a compilation, nothing else (a read-only /var/cache, for one).
        if let cache { try? cache.store(program, key: key) }
        return (program, problem)
    }

    /// What the worker runs without, to print on stderr before it starts.
    public var warnings: [String] {
        var out = isolation.skipped.map { "not applied: \($0)" }
        if policy.landlock == .bestEffort { out += landlock.missing.map { "not applied: \($0)" } }
        if seccomp == nil { out.append("not applied: seccomp (the policy names no profile)") }
        if let problem = seccompCacheProblem { out.append("seccomp cache: \(problem); compiled the profile instead") }
        return out
    }

    /// Starts `command` in a new sandbox: registers its listeners with `registrar`, then lets the worker exec.
    public func start(_ command: [String], sandbox name: String,
                      registrar: any RouterRegistrar = NoRouterRegistrar()) throws -> RunningSandbox
    {
        guard let program = command.first else {
            throw SandboxLaunchError(code: .commandNotFound, message: "no command given (airlock run -- CMD ARGS…)")
        }
        // The router's egress CA joins the trust store the worker sees, when it uses the egress proxy and its view is
        // a mount namespace of its own (the files are written into the view, never onto the host).
        var trustFiles: [RootView.Entry] = []
        if policy.routerPorts.count > 1, isolation.hasMountNamespace {
            let certificate: String?
            do {
                certificate = try registrar.egressCertificate()
            } catch {
                throw SandboxLaunchError(code: .routerUnreachable, message: "router not reachable: \(error); the worker was not started")
            }
            if let certificate {
                trustFiles = RootView.trustFiles(egressCertificate: certificate)
            }
        }
        let worker = WorkerCommand(
            path: try WorkerCommand.resolve(program),
            arguments: command,
            environment: WorkerCommand.environment(policy: policy, workdir: workdir, sandbox: name,
                                                   inherited: Self.callerEnvironment(passing: options.passEnvironment),
                                                   passed: options.passEnvironment, temporary: privateTemporary,
                                                   trust: trustFiles.isEmpty ? nil : (RootView.trustBundlePath, RootView.egressCAPath)))
        if let temporary = privateTemporary, mkdir(temporary, 0o700) != 0 {
            throw SandboxLaunchError(code: .spawnFailed, message: "cannot create the worker's private temporary directory \(temporary): \(SystemError(errno)); set TMPDIR to a writable directory")
        }
        let terminal = try openTerminal()
        let process: airlock_sandbox_process
        do {
            process = try spawn(worker, terminal: terminal.map { ($0.slave, $0.mask) }, extraView: trustFiles)
        } catch {
            privateTemporary.map(RunningSandbox.removeTree)
            if let terminal {
                close(terminal.slave)
                close(terminal.master)
            }
            throw error
        }
        if let terminal {
            close(terminal.slave)
            let input: Int32 = isatty(0) != 0 ? 0 : -1
            let output: Int32 = isatty(1) != 0 ? 1 : isatty(2) != 0 ? 2 : -1
            let rc = airlock_pty_relay_start(terminal.master, input, output)
            if rc != 0 {
                throw abort(process, SandboxLaunchError(code: .spawnFailed, message: "relaying the worker's terminal: \(SystemError(-rc).name)"))
            }
        }
        let listeners: [SandboxListener]
        do {
            listeners = try receiveListeners(process)
        } catch {
            throw abort(process, error)
        }
        do {
            try registrar.register(sandbox: name, listeners: listeners)
        } catch {
            listeners.forEach { close($0.fd) }
            throw abort(process, SandboxLaunchError(code: .routerUnreachable,
                                                    message: "router not reachable: \(error); the worker was not started"))
        }
        let running = RunningSandbox(process: process, listeners: listeners, temporary: privateTemporary,
                                     relaysTerminal: terminal != nil)
        do {
            try valueOrErrno { airlock_sandbox_release(process.control_fd) }
            try awaitExec(process)
        } catch {
            _ = running.wait()
            throw error is SandboxLaunchError ? error : SandboxLaunchError(code: .spawnFailed, message: "\(error)")
        }
        return running
    }

    /// A pseudo-terminal for the worker when `options.terminal` is set and a standard descriptor is a terminal.
    private func openTerminal() throws -> (master: Int32, slave: Int32, mask: Int32)? {
        guard options.terminal else { return nil }
        let ttys = (0..<3).filter { isatty(Int32($0)) != 0 }
        guard let first = ttys.first else { return nil }
        var master: Int32 = -1, slave: Int32 = -1
        let rc = airlock_pty_open(Int32(first), &master, &slave)
        guard rc == 0 else {
            throw SandboxLaunchError(code: .spawnFailed, message: "opening a pseudo-terminal for the worker: \(SystemError(-rc).name); run with standard input, output and error redirected away from the terminal")
        }
        return (master, slave, ttys.reduce(0) { $0 | (1 << Int32($1)) })
    }

    private func spawn(_ worker: WorkerCommand, terminal: (Int32, Int32)? = nil, extraView: [RootView.Entry] = []) throws -> airlock_sandbox_process {
        let arena = CStringArena()
        var spec = ChildSpecBuilder(launcher: self, worker: worker, terminal: terminal, extraView: extraView).build(in: arena)
        var process = airlock_sandbox_process()
        let rc = withExtendedLifetime(arena) { airlock_sandbox_spawn(&spec, &process) }
        guard rc == 0 else {
            throw SandboxLaunchError(code: .spawnFailed,
                                     message: "clone failed: \(SystemError(-rc).name) — \(SandboxLaunchError.hint(stage: Int32(AIRLOCK_STAGE_CLONE.rawValue), errno: -rc))")
        }
        return process
    }

    private func receiveListeners(_ process: airlock_sandbox_process) throws -> [SandboxListener] {
        let ports = isolation.hasNetworkNamespace ? policy.routerPorts : []
        var fds = [Int32](repeating: -1, count: 8)
        var count: Int32 = 0
        let rc = airlock_sandbox_receive_listeners(process.control_fd, &fds, 8, &count)
        if rc == -EPIPE { try awaitExec(process) }
        if rc != 0 { throw SandboxLaunchError(code: .spawnFailed, message: "receiving listeners: \(SystemError(-rc).name)") }
        return zip(ports, fds.prefix(Int(count))).map { SandboxListener(port: $0, fd: $1) }
    }

    /// Reads the report pipe until EOF (the worker reached execve) or a failure record.
    private func awaitExec(_ process: airlock_sandbox_process) throws {
        var report = airlock_report()
        let rc = airlock_sandbox_read_report(process.report_fd, &report)
        if rc == 1 {
            throw SandboxLaunchError(report: report, context: context(for: report))
        }
        if rc < 0 { throw SandboxLaunchError(code: .spawnFailed, message: "report pipe: \(SystemError(-rc).name)") }
    }

    private func abort(_ process: airlock_sandbox_process, _ error: any Error) -> any Error {
        kill(process.pid, SIGKILL)
        var status: Int32 = 0
        airlock_sandbox_wait(process.pid, process.control_fd, &status)
        if options.terminal { airlock_pty_relay_stop() }
        privateTemporary.map(RunningSandbox.removeTree)
        close(process.control_fd)
        close(process.report_fd)
        return error
    }

    private func context(for report: airlock_report) -> String? {
        let index = Int(report.detail)
        switch UInt32(report.stage) {
        case AIRLOCK_STAGE_MOUNT_HIDE.rawValue where index < policy.hiddenPaths.count:
            return policy.hiddenPaths[index]
        case AIRLOCK_STAGE_MOUNT_VIEW.rawValue where index >= 0 && index < view.entries.count:
            return view.entries[index].path
        case AIRLOCK_STAGE_MOUNT_READWRITE.rawValue where index < policy.readwritePaths.count:
            return policy.readwritePaths[index]
        case AIRLOCK_STAGE_MOUNT_WORKDIR.rawValue, AIRLOCK_STAGE_CHDIR.rawValue:
            return workdir
        case AIRLOCK_STAGE_LANDLOCK_ADD_RULE.rawValue where index < landlock.pathRules.count:
            return landlock.pathRules[index].path
        case AIRLOCK_STAGE_LISTENER.rawValue where index < policy.routerPorts.count:
            return "127.0.0.1:\(policy.routerPorts[index])"
        default:
            return nil
        }
    }

    private static func isEssential(_ missing: String) -> Bool {
        missing.hasPrefix("Landlock (") || missing.hasPrefix("Landlock TCP")
    }

    private static func canonicalWorkdir(_ path: String?) throws -> String {
        let candidate = path ?? "."
        guard let resolved = realpath(candidate, nil) else {
            throw SandboxLaunchError(code: .invalidPolicy, message: "workdir \(candidate): \(SystemError(errno))")
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// A directory only this worker writes, for modes without a private /tmp: named here (under the caller's TMPDIR,
    /// or /tmp), created 0700 by `start` and removed when the worker has exited; handed to the worker as TMPDIR and
    /// the only temporary place Landlock lets it write.
    private static func privateTemporaryPath() -> String {
        let base = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/tmp"
        return "\(base)/airlock-worker-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    }

    private static func callerEnvironment(passing names: [String]) -> [String: String] {
        var out: [String: String] = [:]
        for name in ["TERM"] + names {
            if let value = getenv(name) { out[name] = String(cString: value) }
        }
        return out
    }
}
