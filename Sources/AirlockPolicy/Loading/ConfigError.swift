/// An error in a configuration file: what is wrong, where, and what to do about it.
///
/// The description reads like a compiler diagnostic:
///
///     policies/airlock.yaml:12:7: router.listeners[1].mode: expected an octal mode string like "0660",
///     got integer 660. Quote the mode.
///
/// (on one line).
///
/// Code that decodes or validates a value may throw a `ConfigError` without a file or location;
/// ``StrictYAMLDecoder`` then places it at the value being decoded, with `path` read relative to that value.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    /// What kind of mistake this is; stable for tests and tooling.
    public var code: Code
    /// The file the configuration was read from, when known.
    public var file: String?
    /// Where in the file, when known.
    public var location: ConfigLocation?
    /// The key path of the offending value, such as `router.listeners[1].mode`.
    public var path: ConfigPath
    /// What is wrong, without a trailing period.
    public var message: String
    /// What to do about it, when there is something to say.
    public var hint: String?

    /// Creates an error; leave `file` and `location` out to have the decoder fill them in.
    public init(
        _ code: Code,
        _ message: String,
        hint: String? = nil,
        path: ConfigPath = .root,
        file: String? = nil,
        location: ConfigLocation? = nil
    ) {
        self.code = code
        self.message = message
        self.hint = hint
        self.path = path
        self.file = file
        self.location = location
    }

    /// The 1-based line, when known.
    public var line: Int? { location?.line }

    /// The 1-based column, when known.
    public var column: Int? { location?.column }

    public var description: String {
        var text = ""
        if let file {
            text += file
            if let location { text += ":\(location.line):\(location.column)" }
            text += ": "
        } else if let location {
            text += "\(location.line):\(location.column): "
        }
        if !path.isRoot { text += "\(path): " }
        text += message
        if let hint {
            text += message.hasSuffix(".") ? " " : ". "
            text += hint
        }
        return text
    }

    /// Whether the decoder still has to fill in the file and location.
    var isUnplaced: Bool { file == nil && location == nil }
}
