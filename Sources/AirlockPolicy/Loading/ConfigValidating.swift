/// A configuration type with rules beyond its shape, checked after decoding.
///
/// ``StrictYAMLDecoder`` calls `validate(at: .root, in:)` on the decoded top-level value. A type validates its own
/// fields and calls `validate` on the children that conform, passing their paths, such as `path.key("router")`.
public protocol ConfigValidating {
    /// Throws a ``ConfigError`` made by `source.error(at:_:hint:code:)` when a rule is broken.
    func validate(at path: ConfigPath, in source: ConfigSourceMap) throws
}
