import AirlockPolicy
import ArgumentParser

struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Check and explain configuration and policy files.",
        subcommands: [Check.self, PolicyExplainCommand.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a configuration file; exits non-zero and names every problem if it is not usable."
        )

        @Argument(help: "The configuration file.")
        var file: String

        func run() async throws {
            do {
                let loaded = try ConfigLoader.load(path: file)
                let c = loaded.config
                print("\(file): OK — \(c.router.listeners.count) listener(s), \(c.sandboxes.count) sandbox(es), \(c.upstreams.count) upstream(s), \(c.models.count) model(s)")
            } catch {
                printError("\(error)")
                throw ExitCode(1)
            }
        }
    }
}
