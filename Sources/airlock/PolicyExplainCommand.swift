import AirlockSandbox
import ArgumentParser

/// `airlock policy explain [--policy FILE]`: the effective sandbox on this machine.
struct PolicyExplainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Print the effective sandbox: syscalls, capabilities, Landlock rules and ABI, mounts, network."
    )

    @Option(help: "Sandbox policy (JSON).") var policy: String?
    @Option(help: "Workdir to explain for (default: policy, else the current directory).") var workdir: String?

    func run() async throws {
        let loaded = try policy.map(SandboxPolicy.load(path:)) ?? SandboxPolicy.builtIn()
        let launcher = try SandboxLauncher(policy: loaded, options: .init(workdir: workdir))
        print(SandboxExplanation(launcher: launcher).text)
    }
}
