import AirlockJSON
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A policy or profile file that could not be read or understood: which file, where, and why.
public struct PolicyFileError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String

    public var description: String { "\(path): \(message)" }
}

extension SandboxPolicy {
    /// Reads a JSON policy; `seccompProfile` is resolved against the file's directory.
    public static func load(path: String) throws -> SandboxPolicy {
        let data = try readFile(path)
        var policy: SandboxPolicy
        do {
            policy = try SandboxPolicy.decode(data)
        } catch {
            throw PolicyFileError(path: path, message: error.description)
        }
        if let profile = policy.seccompProfile, !profile.hasPrefix("/") {
            let directory = parentDirectory(of: path)
            policy.seccompProfile = directory.isEmpty ? profile : "\(directory)/\(profile)"
        }
        return policy
    }
}

func readFile(_ path: String) throws(PolicyFileError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw PolicyFileError(path: path, message: "cannot open: \(SystemError(errno))") }
    defer { close(fd) }
    do {
        return try readAll(fd: fd)
    } catch {
        throw PolicyFileError(path: path, message: "cannot read: \(error)")
    }
}

extension SandboxPolicy {
    /// The built-in policy, with `agent-strict.json` found next to the working directory or above the executable
    /// (`.build/<config>/airlock` inside a checkout, or `<prefix>/share/airlock/seccomp`, where install.sh and the
    /// container image put the profiles).
    public static func builtIn() -> SandboxPolicy {
        var policy = SandboxPolicy()
        let relative = "policies/seccomp/agent-strict.json"
        var candidates = [relative]
        var directory = executableDirectory()
        for _ in 0..<4 where !directory.isEmpty {
            candidates.append("\(directory)/\(relative)")
            candidates.append("\(directory)/share/airlock/seccomp/agent-strict.json")
            directory = parentDirectory(of: directory)
        }
        policy.seccompProfile = candidates.first { access($0, R_OK) == 0 } ?? relative
        return policy
    }
}
