import CAirlockSandbox

/// A launch that did not reach the worker's execve, with the stage and errno when the child reported one.
public struct SandboxLaunchError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let name: String
        public var description: String { name }

        public static let invalidPolicy = Code(name: "invalid policy")
        public static let commandNotFound = Code(name: "command not found")
        public static let spawnFailed = Code(name: "spawn failed")
        public static let childSetupFailed = Code(name: "sandbox setup failed")
        public static let routerUnreachable = Code(name: "router not reachable")
        public static let landlockUnavailable = Code(name: "Landlock unavailable")
    }

    public var code: Code
    /// The child stage name ("landlock_restrict_self"), when the failure happened after fork.
    public var stage: String?
    public var error: SystemError?
    public var message: String

    public var description: String { message }

    init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// "landlock_restrict_self failed: EPERM — hint".
    init(report: airlock_report, context: String?) {
        code = .childSetupFailed
        let stageName = String(cString: airlock_stage_name(report.stage))
        stage = stageName
        error = SystemError(report.error)
        let subject = context.map { " (\($0))" } ?? ""
        message = "\(stageName)\(subject) failed: \(SystemError(report.error).name) — \(Self.hint(stage: report.stage, errno: report.error))"
    }

    static func hint(stage: Int32, errno: Int32) -> String {
        switch UInt32(stage) {
        case AIRLOCK_STAGE_CLONE.rawValue:
            return "the kernel refused new namespaces; run as root, or allow unprivileged user namespaces"
        case AIRLOCK_STAGE_USERNS_MAP.rawValue:
            return "could not map the worker's uid/gid into the user namespace"
        case AIRLOCK_STAGE_MOUNT_WORKDIR.rawValue:
            return "the workdir must exist and be a directory on the host"
        case AIRLOCK_STAGE_MOUNT_PRIVATE.rawValue, AIRLOCK_STAGE_OPEN_TREE.rawValue,
            AIRLOCK_STAGE_MOUNT_ROOT_READONLY.rawValue, AIRLOCK_STAGE_MOUNT_ROOT_ATTACH.rawValue,
            AIRLOCK_STAGE_PIVOT_ROOT.rawValue:
            return "building the read-only root view needs CAP_SYS_ADMIN in the mount namespace and Linux ≥ 5.12"
        case AIRLOCK_STAGE_LISTENER.rawValue:
            return "could not listen on a router port inside the sandbox's network namespace"
        case AIRLOCK_STAGE_SETRESUID.rawValue, AIRLOCK_STAGE_SETRESGID.rawValue, AIRLOCK_STAGE_SETGROUPS.rawValue:
            return "switching to the worker identity needs root (or a mapped id in the user namespace)"
        case AIRLOCK_STAGE_LANDLOCK_CREATE_RULESET.rawValue:
            return "the kernel rejected the ruleset; is Landlock enabled (lsm=…,landlock)? set landlock: best-effort to run without it"
        case AIRLOCK_STAGE_LANDLOCK_ADD_RULE.rawValue:
            return "a Landlock path rule could not be added; check readonlyPaths/readwritePaths"
        case AIRLOCK_STAGE_LANDLOCK_RESTRICT_SELF.rawValue:
            return "the kernel refused to enforce the ruleset (no_new_privs must be set; too many nested domains?)"
        case AIRLOCK_STAGE_SECCOMP.rawValue:
            return "the kernel rejected the seccomp program; recompile the profile or check SECCOMP_FILTER_FLAG_* flags"
        case AIRLOCK_STAGE_EXECVE.rawValue:
            return errno == ENOENT_CODE
                ? "the command does not exist inside the sandbox's view of the filesystem"
                : "the worker could not execute the command (permissions, or blocked by the seccomp profile)"
        case AIRLOCK_STAGE_CHDIR.rawValue:
            return "the worker identity cannot enter the workdir; chown it to the worker uid"
        default:
            return "the sandbox could not be set up"
        }
    }

    private static let ENOENT_CODE: Int32 = 2
}
