import AirlockPolicy
import AirlockRouter
import ArgumentParser
import Logging
import ServiceLifecycle
import UnixSignals

struct RouterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "router",
        abstract: "Serve the inference router for sandboxed agents."
    )

    @Option(name: .shortAndLong, help: "The configuration file.")
    var config: String = "/etc/airlock/airlock.yaml"

    @Option(help: "Drop to this user (name or UID) after binding listeners and reading credentials.")
    var user: String?

    @Flag(help: "Serve requests as root. Refused by default.")
    var allowRoot = false

    @Option(help: "Once serving, write the bound listeners and the policy digest here as JSON (for scripts and probes).")
    var readyFile: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(help: "Log format: json (one object per line) or text.")
    var logFormat: LogFormat = .json

    enum LogFormat: String, ExpressibleByArgument {
        case json, text
    }

    func run() async throws {
        let level = logLevel
        if logFormat == .json {
            LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        } else {
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
        let logger = Logger(label: "airlock.router")
        let loaded: LoadedConfig
        do {
            loaded = try ConfigLoader.load(path: config)
        } catch {
            printError("airlock router: \(error)")
            throw ExitCode(1)
        }
        let router: Router
        do {
            router = try await Router.start(loaded, options: .init(user: user, allowRoot: allowRoot), logger: logger)
        } catch {
            printError("airlock router: \(error)")
            throw ExitCode(1)
        }
        var ready: (path: String, contents: String)?
        if let readyFile {
            let listeners = router.boundAddresses.map { "\"\($0)\"" }.joined(separator: ",")
            ready = (readyFile, "{\"listeners\":[\(listeners)],\"policy_digest\":\"\(router.policyDigest)\"}\n")
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: ServingRouter(router: router, ready: ready))],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}

/// The router as the service group runs it: `--ready-file` is written only once SIGTERM, SIGINT and SIGHUP are
/// handled, so a supervisor that signals the router the moment the file appears gets a graceful shutdown (exit 0) or
/// a reload, never a process killed by the signal's default action.
private struct ServingRouter: Service {
    let router: Router
    let ready: (path: String, contents: String)?

    func run() async throws {
        let ready = self.ready
        try await router.run(whenServing: {
            guard let ready else { return }
            do {
                try AtomicFile.write(ready.path, ready.contents)
            } catch {
                printError("airlock router: cannot write --ready-file \(ready.path): \(error)")
                throw ExitCode(1)
            }
        })
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
