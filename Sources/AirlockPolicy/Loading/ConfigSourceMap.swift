/// Where each value of a decoded configuration file was written, so that validation can point at it.
public struct ConfigSourceMap: Sendable {
    struct Entry: Sendable {
        var key: ConfigLocation?
        var value: ConfigLocation
    }

    /// The file name used in errors.
    public let file: String
    let entries: [[ConfigPath.LookupStep]: Entry]

    init(file: String, entries: [[ConfigPath.LookupStep]: Entry]) {
        self.file = file
        self.entries = entries
    }

    /// Where the value at `path` starts, if it was written in the file.
    public func location(of path: ConfigPath) -> ConfigLocation? {
        entries[path.lookupKey]?.value
    }

    /// Where the key of the value at `path` was written, if the value is in a mapping.
    public func keyLocation(of path: ConfigPath) -> ConfigLocation? {
        entries[path.lookupKey]?.key
    }

    /// An error at the value at `path`; when the value was not written, at its nearest written ancestor.
    public func error(
        at path: ConfigPath,
        _ message: String,
        hint: String? = nil,
        code: ConfigError.Code = .validation
    ) -> ConfigError {
        ConfigError(code, message, hint: hint, path: path, file: file, location: nearestLocation(of: path))
    }

    /// Places an error thrown without a location at `base` plus the error's own, relative, path.
    public func place(_ error: ConfigError, at base: ConfigPath) -> ConfigError {
        guard error.isUnplaced else { return error }
        var placed = error
        placed.path = base.appending(error.path)
        placed.file = file
        placed.location = nearestLocation(of: placed.path)
        return placed
    }

    func nearestLocation(of path: ConfigPath) -> ConfigLocation? {
        var steps = path.lookupKey
        while true {
            if let entry = entries[steps] { return entry.value }
            if steps.isEmpty { return nil }
            steps.removeLast()
        }
    }
}
