import AirlockReceipts
import AirlockRouter
import AirlockPolicy
import ArgumentParser
import Foundation
import Logging
import NIOCore
import UnixSignals

/// `airlock witness …`: a C2SP tlog-witness that cosigns the receipt logs of many routers.
struct WitnessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "witness",
        abstract:
            "Cosign receipt-log checkpoints after checking they extend what was cosigned before (C2SP tlog-witness).",
        subcommands: [WitnessServe.self, WitnessKeygen.self],
        defaultSubcommand: WitnessServe.self
    )
}

struct WitnessServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve POST /add-checkpoint on a loopback address."
    )

    @Option(
        help:
            "The witness's signing key file (from 'airlock witness keygen'; mode 0600, or 0640 with a group only the witness is in)."
    )
    var key: String

    @Option(
        name: .customLong("log"),
        help: "A log to witness: ORIGIN=VERIFIER_KEY, or VERIFIER_KEY alone when its name is the origin. Repeatable."
    )
    var logs: [String] = []

    @Option(
        help:
            "The state directory for a witness on one host: the newest cosigned tree per log, kept across restarts.")
    var state: String?

    @Option(
        name: .customLong("state-postgres"),
        help:
            "Keep the state in PostgreSQL instead, shared by every replica of this witness: a YAML or JSON file with host, port, database, user, password_file, tls, ca_file, timeout, max_connections (the keys of the router's ledger.postgres)."
    )
    var statePostgres: String?

    @Option(help: "The loopback address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0 picks a free one; see --ready-file).")
    var port = 0

    @Option(help: "The largest request body, in bytes.")
    var maxBodyBytes = 64 * 1024

    @Option(help: "Seconds a request may take from its first byte to its end.")
    var headerTimeout = 10

    @Option(help: "Seconds an idle connection is kept open.")
    var idleTimeout = 60

    @Option(help: "Once serving, write {\"port\":N,\"witness_key\":\"...\"} here (for scripts and probes).")
    var readyFile: String?

    func validate() throws {
        switch (state, statePostgres) {
        case (nil, nil):
            throw ValidationError(
                "give the witness state: --state DIR (a file, one host) or --state-postgres FILE (PostgreSQL, shared by replicas)")
        case (.some, .some):
            throw ValidationError(
                "give one witness state, --state or --state-postgres, not both: two stores would disagree on what was cosigned")
        default:
            break
        }
        guard (0...65535).contains(port) else {
            throw ValidationError("--port \(port) is out of range; use 1 to 65535, or 0 to pick a free port")
        }
        guard maxBodyBytes > 0, headerTimeout > 0, idleTimeout > 0 else {
            throw ValidationError("--max-body-bytes, --header-timeout and --idle-timeout must be positive")
        }
    }

    func run() async throws {
        let witness: Witness
        var database: PostgresWitnessStore?
        do {
            let cosigner = try Cosigner(contentsOfFile: key)
            let logs = try Self.parseLogs(logs)
            let store: any WitnessStore
            if let statePostgres {
                let settings = try PostgresConnectionSettings.load(path: statePostgres)
                let opened = try await PostgresWitnessStore.open(
                    settings: settings, source: statePostgres, witness: cosigner.key,
                    logger: Logger(label: "airlock.witness"))
                if opened.synchronousCommit == "off" {
                    printError(
                        "airlock witness: warning: the database has synchronous_commit = off; a crash of the server can lose trees this witness cosigned, after which it could cosign a fork. Set synchronous_commit = on for the witness's user or database."
                    )
                }
                database = opened
                store = opened
            } else if let state {
                store = try FileWitnessStore(directory: state)
            } else {
                throw ValidationError("give --state DIR or --state-postgres FILE")
            }
            witness = Witness(cosigner: cosigner, logs: logs, store: store)
        } catch let error as ValidationError {
            throw error
        } catch {
            printError("airlock witness: \(error)")
            throw ExitCode(1)
        }
        var configuration = WitnessServer.Configuration()
        configuration.host = host
        configuration.port = port
        configuration.maxBodyBytes = maxBodyBytes
        configuration.headerTimeout = .seconds(Int64(headerTimeout))
        configuration.idleTimeout = .seconds(Int64(idleTimeout))
        let server: WitnessServer
        do {
            server = try await WitnessServer.start(witness: witness, configuration: configuration) { printError($0) }
        } catch {
            printError("airlock witness: cannot listen on \(host) port \(port): \(error)")
            throw ExitCode(1)
        }
        printError("airlock witness: \(witness.cosigner.key.text) serving on \(host) port \(server.port)")
        if let readyFile {
            do {
                try AtomicFile.write(
                    readyFile, "{\"port\":\(server.port),\"witness_key\":\"\(witness.cosigner.key.text)\"}\n")
            } catch {
                printError("airlock witness: cannot write --ready-file \(readyFile): \(error)")
                throw ExitCode(1)
            }
        }
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        for await _ in signals { break }
        await server.shutdown()
        database?.close()
    }

    /// `--log` values: `ORIGIN=KEY` or `KEY` (origin = key name); one origin may be given several keys.
    static func parseLogs(_ values: [String]) throws -> [WitnessedLog] {
        guard !values.isEmpty else {
            throw ValidationError("give at least one --log ORIGIN=VERIFIER_KEY (the log's checkpoint verifier key)")
        }
        var logs: [WitnessedLog] = []
        for value in values {
            let key: NoteVerifierKey
            let origin: String
            do {
                if let split = value.firstIndex(of: "="), !value[..<split].contains("+") {
                    origin = String(value[..<split])
                    key = try NoteVerifierKey(text: String(value[value.index(after: split)...]))
                } else {
                    key = try NoteVerifierKey(text: value)
                    origin = key.name
                }
            } catch {
                throw ValidationError("--log '\(value)': \(error)")
            }
            guard !origin.isEmpty, !origin.contains("\n") else {
                throw ValidationError("--log '\(value)': the origin must be one non-empty line")
            }
            logs.append(WitnessedLog(origin: origin, keys: [key]))
        }
        return logs
    }
}

struct WitnessKeygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make a witness key: PREFIX.key (mode 0600) and PREFIX.pub (the witness key for --witness-key)."
    )

    @Option(help: "The witness name, a schema-less URL (e.g. witness.example.com/w1).") var name: String
    @Option(help: "Output path prefix.") var out: String

    func run() throws {
        let cosigner = try Cosigner.generate(name: name)
        try cosigner.write(toPrefix: out)
        print(cosigner.key.text)
    }
}
