import AirlockSandbox

/// `airlock policy explain [--policy FILE] [--workdir DIR]`: the effective sandbox on this machine.
public enum ExplainTool {
    public static let usage = """
        OVERVIEW: Print the effective sandbox: syscalls, capabilities, Landlock rules and ABI, mounts, network.

        USAGE: airlock policy explain [--policy <policy>] [--workdir <workdir>]

        OPTIONS:
          --policy <policy>       Sandbox policy (JSON).
          --workdir <workdir>     Workdir to explain for (default: policy, else the current directory).
          -h, --help              Show help information.
        """

    public static func main(_ arguments: [String]) -> Int32 {
        var policyPath: String?
        var workdir: String?
        var i = 0
        while i < arguments.count {
            let (name, inline) = RunArguments.split(arguments[i])
            switch name {
            case "-h", "--help":
                print(usage)
                return 0
            case "--policy", "--workdir":
                var value = inline
                if value == nil {
                    i += 1
                    value = i < arguments.count ? arguments[i] : nil
                }
                guard let value else {
                    printError("airlock policy explain: missing value for '\(name)'")
                    return 64
                }
                if name == "--policy" { policyPath = value } else { workdir = value }
            default:
                printError("airlock policy explain: unexpected argument '\(arguments[i])' "
                    + "(see airlock policy explain --help)")
                return 64
            }
            i += 1
        }
        do {
            let policy = try policyPath.map(SandboxPolicy.load(path:)) ?? SandboxPolicy.builtIn()
            // Always compiled, never from the cache: explaining means showing what the profile says.
            let launcher = try SandboxLauncher(policy: policy, options: .init(workdir: workdir))
            print(SandboxExplanation(launcher: launcher).text)
            return 0
        } catch {
            printError("airlock policy explain: \(error)")
            return 1
        }
    }
}
