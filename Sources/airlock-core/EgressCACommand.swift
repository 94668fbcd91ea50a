#if canImport(Glibc)
import Glibc
#endif
import AirlockPolicy
import AirlockRouter
import ArgumentParser

/// `airlock egress ca show|rotate`: the router's CA for inspected egress hosts.
struct EgressCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "egress",
        abstract: "The egress proxy's CA for inspected hosts.",
        subcommands: [CA.self]
    )

    struct CA: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ca",
            abstract: "Show or rotate the router's egress CA.",
            subcommands: [Show.self, Rotate.self]
        )
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print where the CA is and its public certificate (PEM).")

        @Option(name: .long, help: "The router's configuration file.")
        var config: String

        func run() async throws {
            let loaded = try loadConfig(config)
            let paths = EgressCertificateAuthority.paths(stateDirectory: loaded.config.router.stateDirectory)
            do {
                guard let pem = try EgressCertificateAuthority.certificatePEM(stateDirectory: loaded.config.router.stateDirectory) else {
                    printError("no egress CA in \(paths.certificate) yet: the router makes one at its first start (or run `airlock egress ca rotate`)")
                    throw ExitCode(1)
                }
                printError("key: \(paths.key)\ncertificate: \(paths.certificate)")
                print(pem, terminator: "")
            } catch let exit as ExitCode {
                throw exit
            } catch {
                printError("airlock egress ca show: \(error)")
                throw ExitCode(1)
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a new CA key and certificate in the router's state directory; restart the router to use it."
        )

        @Option(name: .long, help: "The router's configuration file.")
        var config: String

        @Option(name: .long, help: "The user the router runs as (owner of the new key); default: router.user, else the caller.")
        var user: String?

        func run() async throws {
            let loaded = try loadConfig(config)
            do {
                let paths = try EgressCertificateAuthority.rotate(
                    stateDirectory: loaded.config.router.stateDirectory, user: user ?? loaded.config.router.user
                )
                print("new egress CA: \(paths.certificate) (key \(paths.key), mode 0600)")
                print("Restart the router (it reads the CA at start and publishes it beside its control socket); sandboxes started after that trust the new CA, and running ones must be restarted.")
            } catch {
                printError("airlock egress ca rotate: \(error)")
                throw ExitCode(1)
            }
        }
    }

    static func loadConfigFile(_ path: String) throws -> LoadedConfig {
        do {
            return try ConfigLoader.load(path: path)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}

private func loadConfig(_ path: String) throws -> LoadedConfig {
    try EgressCommand.loadConfigFile(path)
}
