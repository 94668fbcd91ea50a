/// A decoded configuration value together with where its parts were written.
public struct ConfigDocument<Value> {
    /// The decoded value.
    public var value: Value
    /// Locations of every value in the file.
    public let sourceMap: ConfigSourceMap

    /// Creates a document.
    public init(value: Value, sourceMap: ConfigSourceMap) {
        self.value = value
        self.sourceMap = sourceMap
    }

    /// An error at the value at `path`, with the file, line and column filled in.
    public func error(
        at path: ConfigPath,
        _ message: String,
        hint: String? = nil,
        code: ConfigError.Code = .validation
    ) -> ConfigError {
        sourceMap.error(at: path, message, hint: hint, code: code)
    }
}

extension ConfigDocument: Sendable where Value: Sendable {}
