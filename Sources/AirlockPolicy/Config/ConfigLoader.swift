#if canImport(Glibc)
import Glibc
#endif

/// A configuration read from disk, validated, with the exact bytes it came from (for the policy digest).
public struct LoadedConfig: Sendable {
    public var config: AirlockConfig
    public var path: String
    public var source: [UInt8]

    public init(config: AirlockConfig, path: String, source: [UInt8]) {
        self.config = config
        self.path = path
        self.source = source
    }
}

/// Every problem found in a configuration file, each with file, key path and what to do.
public struct ConfigLoadError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var problems: [String]

    public var description: String {
        problems.count == 1
            ? problems[0]
            : "\(path): \(problems.count) problems:\n" + problems.map { "  " + $0 }.joined(separator: "\n")
    }
}

public enum ConfigLoader {
    /// Reads, strictly decodes and validates the YAML (or JSON) file at `path`.
    public static func load(path: String) throws -> LoadedConfig {
        let bytes = try readFile(path)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigLoadError(path: path, problems: ["\(path): the file is not valid UTF-8. Save it as UTF-8 text."])
        }
        return try load(text: text, path: path, source: bytes)
    }

    /// Decodes and validates configuration text; `path` is used in error messages.
    public static func load(text: String, path: String, source: [UInt8]? = nil) throws -> LoadedConfig {
        let document = try StrictYAMLDecoder().decodeDocument(AirlockConfig.self, from: text, file: path)
        let issues = document.value.validate()
        if !issues.isEmpty {
            throw ConfigLoadError(
                path: path,
                problems: issues.map { issue in
                    document.error(at: ConfigPath(dotted: issue.path), issue.message, hint: issue.hint).description
                }
            )
        }
        return LoadedConfig(config: document.value, path: path, source: source ?? Array(text.utf8))
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw ConfigLoadError(path: path, problems: ["\(path): cannot open the configuration: \(reason)."])
        }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ConfigLoadError(path: path, problems: ["\(path): read failed: \(String(cString: strerror(errno)))."])
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
            if out.count > 4 << 20 {
                throw ConfigLoadError(path: path, problems: ["\(path): larger than 4 MiB; this is not a router configuration."])
            }
        }
        return out
    }
}
