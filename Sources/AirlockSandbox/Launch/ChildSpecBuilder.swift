#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CAirlockSandbox

/// Flattens the launcher's plan into the C struct the post-fork code reads.
struct ChildSpecBuilder {
    var launcher: SandboxLauncher
    var worker: WorkerCommand
    /// The worker's pseudo-terminal slave and which standard descriptors it replaces (`airlock_sandbox_spec`).
    var terminal: (fd: Int32, mask: Int32)?
    /// Files of this run only, after the view's own entries (the trust store with the router's egress CA).
    var extraView: [RootView.Entry] = []

    func build(in arena: CStringArena) -> airlock_sandbox_spec {
        let policy = launcher.policy
        var spec = airlock_sandbox_spec()
        spec.terminal_fd = terminal?.fd ?? -1
        spec.terminal_mask = terminal?.mask ?? 0
        spec.exec_path = UnsafePointer(arena.string(worker.path))
        spec.argv = UnsafePointer(arena.stringArray(worker.arguments))
        spec.envp = UnsafePointer(arena.stringArray(worker.environment))
        spec.workdir = UnsafePointer(arena.string(launcher.workdir))
        spec.uid = launcher.isolation.uid
        spec.gid = launcher.isolation.gid
        spec.outer_uid = getuid()
        spec.outer_gid = getgid()
        spec.flags = launcher.isolation.flags

        let view = (launcher.view.entries + extraView).map { entry -> airlock_view_entry in
            switch entry {
            case .bind(let path):
                return airlock_view_entry(path: UnsafePointer(arena.string(path)), source: UnsafePointer(arena.string(path)),
                                          kind: Int32(AIRLOCK_VIEW_BIND.rawValue))
            case .symlink(let path, let target):
                return airlock_view_entry(path: UnsafePointer(arena.string(path)), source: UnsafePointer(arena.string(target)),
                                          kind: Int32(AIRLOCK_VIEW_SYMLINK.rawValue))
            case .file(let path, let contents):
                return airlock_view_entry(path: UnsafePointer(arena.string(path)), source: UnsafePointer(arena.string(contents)),
                                          kind: Int32(AIRLOCK_VIEW_FILE.rawValue))
            }
        }
        spec.view = UnsafePointer(arena.array(view))
        spec.view_count = Int32(view.count)
        let hidden = policy.hiddenPaths.map { UnsafePointer(arena.string($0)) as UnsafePointer<CChar>? }
        spec.hidden_paths = UnsafePointer(arena.array(hidden))
        spec.hidden_count = Int32(hidden.count)
        let writable = policy.readwritePaths.map { UnsafePointer(arena.string($0)) as UnsafePointer<CChar>? }
        spec.readwrite_paths = UnsafePointer(arena.array(writable))
        spec.readwrite_count = Int32(writable.count)
        spec.tmp_options = UnsafePointer(arena.string("mode=1777,size=\(policy.tmpSize)"))

        if launcher.isolation.hasNetworkNamespace {
            spec.listen_ports = UnsafePointer(arena.array(policy.routerPorts))
            spec.listen_count = Int32(policy.routerPorts.count)
        }

        let limits = Self.rlimits(policy.limits)
        spec.rlimits = UnsafePointer(arena.array(limits))
        spec.rlimit_count = Int32(limits.count)

        let landlock = launcher.landlock
        spec.landlock_abi = Int32(landlock.abi)
        spec.landlock_handled_fs = landlock.handledFilesystem
        spec.landlock_handled_net = landlock.handledNetwork
        spec.landlock_scoped = landlock.scoped
        let rules = landlock.pathRules.map {
            airlock_landlock_path_rule(path: UnsafePointer(arena.string($0.path)), access: $0.access)
        }
        spec.landlock_paths = UnsafePointer(arena.array(rules))
        spec.landlock_path_count = Int32(rules.count)
        spec.landlock_connect_ports = UnsafePointer(arena.array(landlock.connectPorts))
        spec.landlock_connect_count = Int32(landlock.connectPorts.count)

        if let seccomp = launcher.seccomp {
            spec.seccomp_filter = UnsafeRawPointer(arena.array(seccomp.filter))
            spec.seccomp_filter_len = UInt16(seccomp.instructionCount)
            spec.seccomp_flags = seccomp.flags
        }
        if let injected = launcher.options.injectedFailure {
            spec.inject_stage = Int32(injected.stage.rawValue)
            spec.inject_errno = injected.errno
        }
        return spec
    }

    static func rlimits(_ limits: ResourceLimits) -> [airlock_rlimit] {
        let table: [(Int32, UInt64?)] = [
            (Int32(RLIMIT_NOFILE.rawValue), limits.openFiles),
            (Int32(__RLIMIT_NPROC.rawValue), limits.processes),
            (Int32(RLIMIT_AS.rawValue), limits.addressSpaceBytes),
            (Int32(RLIMIT_FSIZE.rawValue), limits.fileSizeBytes),
            (Int32(RLIMIT_CPU.rawValue), limits.cpuSeconds),
            (Int32(RLIMIT_CORE.rawValue), limits.coreBytes),
        ]
        return table.compactMap { resource, value in value.map { airlock_rlimit(resource: resource, value: $0) } }
    }
}
