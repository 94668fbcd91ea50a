import AirlockEgressGuard
import ArgumentParser

/// `airlock egress-guard`: nftables rules that let one UID reach only the router's loopback ports.
///
/// Meant for Kubernetes, where the agent and the router share the pod's network namespace, so the agent cannot
/// be given a namespace of its own. Run it as root (an init container with NET_ADMIN) before the agent starts.
struct EgressGuardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "egress-guard",
        abstract: "Confine a UID's network egress to the router's loopback ports with nftables.",
        discussion: """
            Exit status: 0 success; 1 `check` found drift; 2 nft failed or is missing; 64 bad arguments.
            """,
        subcommands: [Apply.self, Check.self, Remove.self]
    )

    /// The flags `apply` and `check` share; validated into an `EgressRuleset` up front.
    struct RulesetOptions: ParsableArguments {
        @Option(help: "The UID to confine (the agent).")
        var uid: UInt32

        @Option(
            help: ArgumentHelp(
                "A loopback TCP endpoint the UID may reach: IPV4:PORT or [IPV6]:PORT. Repeatable.",
                valueName: "host:port"))
        var allow: [String] = []

        @Option(help: "The nftables table (family inet).")
        var table: String = EgressRuleset.defaultTableName

        func validate() throws {
            _ = try ruleset()
        }

        func ruleset() throws -> EgressRuleset {
            do {
                return try EgressRuleset(uid: uid, allow: allow, tableName: table)
            } catch {
                // ValidationError makes ArgumentParser print the reason with the usage line and exit 64.
                throw ValidationError(error.description)
            }
        }
    }

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the rules (atomically replacing any previous version of the table)."
        )

        @OptionGroup var options: RulesetOptions

        @Flag(help: "Print the ruleset and change nothing.")
        var dryRun = false

        func run() async throws {
            let ruleset = try options.ruleset()
            if dryRun {
                print(ruleset.render(), terminator: "")
                return
            }
            try await EgressGuardCommand.withNft { nft in
                try await nft.apply(ruleset)
                print(
                    "applied table inet \(ruleset.tableName): uid \(ruleset.uid) may reach "
                        + ruleset.allowed.map(\.description).joined(separator: ", "))
            }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare the live table with the expected rules; exit 1 and print the drift if they differ."
        )

        @OptionGroup var options: RulesetOptions

        func run() async throws {
            let ruleset = try options.ruleset()
            let drift = try await EgressGuardCommand.withNft { nft in try await nft.check(ruleset) }
            if drift.isEmpty {
                print(drift.report(tableName: ruleset.tableName))
            } else {
                printError(drift.report(tableName: ruleset.tableName))
                throw ExitCode(1)
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete the table (succeeds if it is absent).")

        @Option(help: "The nftables table (family inet).")
        var table: String = EgressRuleset.defaultTableName

        func validate() throws {
            guard EgressRuleset.isValidTableName(table) else {
                throw ValidationError(EgressGuardError.invalidTableName(table).description)
            }
        }

        func run() async throws {
            try await EgressGuardCommand.withNft { nft in
                try await nft.remove(tableName: table)
                print("removed table inet \(table)")
            }
        }
    }

    /// Locates nft and runs `body`, turning failures into a message on stderr and exit status 2.
    static func withNft<T>(_ body: (Nftables) async throws -> T) async throws -> T {
        do {
            return try await body(Nftables(executable: try Nftables.locate()))
        } catch {
            // Everything here is operational (nft missing, refused, timed out); 1 is reserved for drift.
            printError("airlock egress-guard: \(error)")
            throw ExitCode(2)
        }
    }
}
