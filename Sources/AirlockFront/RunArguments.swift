/// `airlock run`'s command line, parsed without ArgumentParser (whose reflection-driven parsing and Foundation
/// dependency cost the launcher more start-up time than the whole sandbox setup).
public struct RunArguments: Sendable, Equatable {
    public var policy: String?
    public var sandbox = "default"
    public var uid: UInt32?
    public var gid: UInt32?
    public var workdir: String?
    public var control = "/run/airlock/control.sock"
    public var noRouter = false
    /// nil: the default (the system cache when root, none otherwise).
    public var seccompCache: String?
    public var noSeccompCache = false
    /// A weaker mode than the launcher would pick (not root only): "user-namespace" or "unprivileged".
    public var isolation: String?
    public var help = false
    /// Variables of the launcher's own environment the worker gets (`--pass-env NAME`, repeatable).
    public var passEnvironment: [String] = []
    public var command: [String] = []

    public init() {}

    public static let usage = """
        OVERVIEW: Run a command in the sandbox; exits with the worker's status (128+N when killed by signal N).
        When standard input, output or error is a terminal, the worker gets a pseudo-terminal of its own, relayed
        both ways; the terminal is in raw mode while the worker runs and restored afterwards.

        USAGE: airlock run [<options>] -- <command> ...

        ARGUMENTS:
          <command>               Command and arguments.

        OPTIONS:
          --policy <policy>       Sandbox policy (JSON). Default: built-in policy with
                                  policies/seccomp/agent-strict.json.
          --sandbox <sandbox>     Sandbox name, used when registering with the router. (default: default)
          --uid <uid>             Worker uid (privileged mode).
          --gid <gid>             Worker gid (privileged mode).
          --workdir <workdir>     Writable working directory (default: policy, else the current directory).
          --control <control>     The router's control socket, through which the sandbox's listeners are handed to
                                  the router. (default: /run/airlock/control.sock)
          --no-router             Start without a router (nothing answers 127.0.0.1:8443 inside the sandbox); for
                                  debugging.
          --seccomp-cache <dir>   Where compiled seccomp programs are kept (default: /var/cache/airlock/seccomp
                                  when root, none otherwise).
          --no-seccomp-cache      Compile the seccomp profile on every launch.
          --isolation <mode>      Not as root: run in a weaker mode than the kernel allows, user-namespace or
                                  unprivileged (to see what a host without user namespaces gets).
          --pass-env <name>       Give the worker this variable of the launcher's environment (repeatable);
                                  nothing else of it is passed. The router uses it for an MCP server's credentials.
          -h, --help              Show help information.
        """

    /// Parses the arguments after `run`.
    public static func parse(_ arguments: [String]) throws(UsageError) -> RunArguments {
        var out = RunArguments()
        var seen: Set<String> = []
        var i = 0
        func value(_ name: String, _ inline: String?) throws(UsageError) -> String {
            if let inline { return inline }
            i += 1
            guard i < arguments.count else { throw UsageError("missing value for '\(name) <\(name.dropFirst(2))>'") }
            return arguments[i]
        }
        func id(_ name: String, _ text: String) throws(UsageError) -> UInt32 {
            guard let number = UInt32(text) else {
                throw UsageError("the value '\(text)' is invalid for '\(name) <\(name.dropFirst(2))>'")
            }
            return number
        }
        while i < arguments.count {
            let argument = arguments[i]
            if argument == "--" {
                out.command = Array(arguments[(i + 1)...])
                break
            }
            let (name, inline) = Self.split(argument)
            if name.hasPrefix("--"), !["--help", "--pass-env"].contains(name) {
                // A repeated option would leave the reader guessing which one the launcher used.
                guard seen.insert(name).inserted else { throw UsageError("'\(name)' is given more than once") }
            }
            switch name {
            case "--policy": out.policy = try value(name, inline)
            case "--sandbox": out.sandbox = try value(name, inline)
            case "--uid": out.uid = try id(name, try value(name, inline))
            case "--gid": out.gid = try id(name, try value(name, inline))
            case "--workdir": out.workdir = try value(name, inline)
            case "--control": out.control = try value(name, inline)
            case "--seccomp-cache": out.seccompCache = try value(name, inline)
            case "--pass-env":
                let variable = try value(name, inline)
                guard !variable.isEmpty, variable.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                    throw UsageError("the value '\(variable)' is invalid for '--pass-env <name>'; use letters, digits and '_'")
                }
                out.passEnvironment.append(variable)
            case "--isolation":
                let mode = try value(name, inline)
                guard ["user-namespace", "unprivileged"].contains(mode) else {
                    throw UsageError("the value '\(mode)' is invalid for '--isolation <mode>'; expected user-namespace or unprivileged")
                }
                out.isolation = mode
            case "--no-router", "--no-seccomp-cache", "-h", "--help":
                guard inline == nil else { throw UsageError("'\(name)' takes no value") }
                switch name {
                case "--no-router": out.noRouter = true
                case "--no-seccomp-cache": out.noSeccompCache = true
                default: out.help = true
                }
            default:
                if argument.hasPrefix("-") { throw UsageError("unknown option '\(argument)'") }
                throw UsageError("unexpected argument '\(argument)'; put the command after '--'")
            }
            i += 1
        }
        if out.noSeccompCache && out.seccompCache != nil {
            throw UsageError("'--seccomp-cache' and '--no-seccomp-cache' exclude each other")
        }
        return out
    }

    /// "--name=value" → ("--name", "value"); anything else → (argument, nil).
    static func split(_ argument: String) -> (String, String?) {
        guard argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") else { return (argument, nil) }
        return (String(argument[..<equals]), String(argument[argument.index(after: equals)...]))
    }
}

/// A command line that could not be parsed; printed with the command's usage, exit status 64 (EX_USAGE).
public struct UsageError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
