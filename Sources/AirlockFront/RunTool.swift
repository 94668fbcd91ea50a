#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AirlockSandbox

/// `airlock run [--policy FILE] [--sandbox NAME] [--uid U --gid G] [--workdir DIR] -- CMD ARGS…`
public enum RunTool {
    /// Runs the sandbox and returns the launcher's exit status: the worker's (128+N when killed by signal N),
    /// 125 when the sandbox could not be started, 64 for a bad command line.
    public static func main(_ arguments: [String]) -> Int32 {
        let options: RunArguments
        do {
            options = try RunArguments.parse(arguments)
        } catch {
            printError("airlock run: \(error)\nUsage: airlock run [<options>] -- <command> ... "
                + "(see airlock run --help)")
            return 64
        }
        if options.help {
            print(RunArguments.usage)
            return 0
        }
        do {
            let policy = try options.policy.map(SandboxPolicy.load(path:)) ?? SandboxPolicy.builtIn()
            var launchOptions = SandboxLauncher.Options(
                uid: options.uid, gid: options.gid, workdir: options.workdir,
                seccompCache: seccompCache(options), terminal: true,
                isolation: options.isolation == "unprivileged" ? .unprivileged
                    : options.isolation == "user-namespace" ? .userNamespace : nil)
            launchOptions.passEnvironment = options.passEnvironment
            let launcher = try SandboxLauncher(policy: policy, options: launchOptions)
            for warning in launcher.warnings { printError("airlock: \(warning)") }
            let router = options.noRouter ? nil : ControlSocketRegistrar(path: options.control)
            let running = try launcher.start(options.command, sandbox: options.sandbox,
                                             registrar: router ?? NoRouterRegistrar())
            SignalForwarding.start(to: running)
            // Copies of the listeners outlive wait(), so that unregistering names this sandbox's own.
            let registered = router == nil ? [] : running.listeners.map { dup($0.fd) }.filter { $0 >= 0 }
            let exit = running.wait()
            SignalForwarding.stop()
            try? router?.unregister(sandbox: options.sandbox, listeners: registered)
            registered.forEach { close($0) }
            return exit.shellStatus
        } catch {
            printError("airlock run: \(error)")
            return 125
        }
    }

    static func seccompCache(_ options: RunArguments) -> SeccompCache? {
        if options.noSeccompCache { return nil }
        if let directory = options.seccompCache { return SeccompCache(directory: directory) }
        return geteuid() == 0 ? SeccompCache(directory: SeccompCache.systemDirectory) : nil
    }
}
