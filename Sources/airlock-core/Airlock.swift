import AirlockSandbox
import ArgumentParser

@main
struct Airlock: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "airlock",
        abstract: "Run untrusted agent code with model access it cannot abuse, and prove what it did.",
        version: AirlockVersion.current,
        subcommands: [RouterCommand.self, RunCommand.self, ReceiptsCommand.self, WitnessCommand.self, PolicyCommand.self, HealthCommand.self, EgressGuardCommand.self, EgressCommand.self, MockUpstreamCommand.self]
    )
}
