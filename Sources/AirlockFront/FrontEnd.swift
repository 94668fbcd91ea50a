import AirlockSandbox

/// `airlock`: the sandbox launcher itself (`run`, `policy explain`) and a dispatcher to `airlock-core` for every
/// other subcommand. The launcher's path links neither Foundation nor SwiftNIO, so `airlock run` starts in a
/// fraction of the time the full binary needs just to be loaded.
public enum FrontEnd {
    public enum Route: Equatable, Sendable {
        case run(arguments: [String])
        case explain(arguments: [String])
        case version
        /// Everything else, `--help` included: the core has the complete command tree.
        case core
    }

    /// Which part handles `arguments` (argv, argv[0] first).
    public static func route(_ arguments: [String]) -> Route {
        let rest = Array(arguments.dropFirst())
        switch rest.first {
        case "run": return .run(arguments: Array(rest.dropFirst()))
        case "policy" where rest.count > 1 && rest[1] == "explain": return .explain(arguments: Array(rest.dropFirst(2)))
        case "--version": return rest.count == 1 ? .version : .core
        default: return .core
        }
    }

    /// Runs the command and returns the process's exit status (the core replaces this process instead).
    public static func main(_ arguments: [String]) -> Int32 {
        switch route(arguments) {
        case .run(let rest): return RunTool.main(rest)
        case .explain(let rest): return ExplainTool.main(rest)
        case .version:
            print(AirlockVersion.current)
            return 0
        case .core: return CoreExecutable.exec(arguments)
        }
    }
}
