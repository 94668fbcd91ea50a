import AirlockRouter
import AirlockSandbox
import ArgumentParser

#if canImport(Glibc)
import Glibc
#endif

/// `airlock run [--policy FILE] [--sandbox NAME] [--uid U --gid G] [--workdir DIR] -- CMD ARGS…`
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command in the sandbox; exits with the worker's status (128+N when killed by signal N)."
    )

    @Option(help: "Sandbox policy (JSON). Default: built-in policy with policies/seccomp/agent-strict.json.")
    var policy: String?

    @Option(help: "Sandbox name, used when registering with the router.")
    var sandbox: String = "default"

    @Option(help: "Worker uid (privileged mode).") var uid: UInt32?
    @Option(help: "Worker gid (privileged mode).") var gid: UInt32?
    @Option(help: "Writable working directory (default: policy, else the current directory).") var workdir: String?

    @Argument(parsing: .postTerminator, help: "Command and arguments.")
    var command: [String] = []

    @Option(help: "The router's control socket, through which the sandbox's listeners are handed to the router.")
    var control: String = "/run/airlock/control.sock"

    @Flag(help: "Start without a router (nothing answers 127.0.0.1:8443 inside the sandbox); for debugging.")
    var noRouter = false

    var registrar: any RouterRegistrar {
        noRouter ? NoRouterRegistrar() : ControlSocketRegistrar(path: control)
    }

    func run() async throws {
        let exit: SandboxExit
        do {
            let loaded = try policy.map(SandboxPolicy.load(path:)) ?? SandboxPolicy.builtIn()
            let launcher = try SandboxLauncher(policy: loaded,
                                               options: .init(uid: uid, gid: gid, workdir: workdir))
            for warning in launcher.warnings { printError("airlock: \(warning)") }
            let running = try launcher.start(command, sandbox: sandbox, registrar: registrar)
            SignalForwarding.start(to: running)
            exit = running.wait()
            SignalForwarding.stop()
            if !noRouter {
                try? ControlClient.send(.unregister(sandbox: sandbox), to: control)
            }
        } catch {
            printError("airlock run: \(error)")
            throw ExitCode(125)
        }
        throw ExitCode(exit.shellStatus)
    }
}

/// Hands the sandbox's listeners to the router over its control socket: the first serves the model API for
/// this sandbox (8443), the second its egress proxy (3128). If the router cannot be reached the worker is never started.
struct ControlSocketRegistrar: RouterRegistrar {
    let path: String

    func register(sandbox: String, listeners: [SandboxListener]) throws {
        var roles: [ControlMessage.Role] = []
        var fds: [Int32] = []
        // The policy lists the router's ports as [model API, egress proxy].
        for (listener, role) in zip(listeners, [ControlMessage.Role.inference, .egress]) {
            roles.append(role)
            fds.append(listener.fd)
        }
        try ControlClient.send(.register(sandbox: sandbox, roles: roles), descriptors: fds, to: path)
    }
}
