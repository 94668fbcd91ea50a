import AirlockFront
import ArgumentParser

/// `airlock run`: listed here for `airlock --help`; the front executable handles it without starting the core, and
/// this passes the arguments to the same code when the core is run directly.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command in the sandbox; exits with the worker's status (128+N when killed by signal N).",
        discussion: "The options are listed by `airlock run --help`."
    )

    @Argument(parsing: .captureForPassthrough, help: "Options, then -- and the command.")
    var arguments: [String] = []

    func run() throws {
        throw ExitCode(RunTool.main(arguments))
    }
}
