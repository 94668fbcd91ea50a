import AirlockFront
import ArgumentParser

/// `airlock policy explain`: handled by the front executable, like `run`; see `RunCommand`.
struct PolicyExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Print the effective sandbox: syscalls, capabilities, Landlock rules and ABI, mounts, network.",
        discussion: "The options are listed by `airlock policy explain --help`."
    )

    @Argument(parsing: .captureForPassthrough, help: "--policy <policy> and --workdir <workdir>.")
    var arguments: [String] = []

    func run() throws {
        throw ExitCode(ExplainTool.main(arguments))
    }
}
