import Foundation

/// Decodes configuration types from YAML (or JSON) and rejects anything an operator might not have meant.
///
/// On top of YAML's own syntax it rejects: keys no type asked for, duplicate keys, more than one document, an empty
/// document, anchors, aliases, merge keys and explicit tags. Scalars follow rules that mean the same in YAML 1.1 and
/// 1.2: booleans are only `true`/`false`; integers are plain decimal (no quotes, no leading zero, no fraction) and
/// must fit the field; a string field takes any scalar's text except a plain boolean or null word such as `no`,
/// `off` or `null`, which must be quoted; a number field takes integers and decimals. `null` or an empty value is
/// accepted only by optionals.
///
///     let policy = try StrictYAMLDecoder().decode(AirlockPolicy.self, from: text, file: "policies/airlock.yaml")
public struct StrictYAMLDecoder: Sendable {
    /// Creates a decoder.
    public init() {}

    /// Decodes `type` from `text`; `file` names the source in errors. Throws ``ConfigError``.
    public func decode<T: Decodable>(_ type: T.Type, from text: String, file: String) throws -> T {
        try decodeDocument(type, from: text, file: file).value
    }

    /// Reads and decodes the file at `path`. Throws ``ConfigError``.
    public func decode<T: Decodable>(_ type: T.Type, fromFileAt path: String) throws -> T {
        try decodeDocument(type, fromFileAt: path).value
    }

    /// Decodes `type` from `text` and keeps where each value was written, for later validation errors.
    ///
    /// When `T` conforms to ``ConfigValidating``, its `validate(at:in:)` runs before this returns.
    public func decodeDocument<T: Decodable>(
        _ type: T.Type,
        from text: String,
        file: String
    ) throws -> ConfigDocument<T> {
        let document = try YAMLComposer.compose(text, file: file)
        let context = DecodingContext(sourceMap: document.sourceMap)
        let value: T
        do {
            value = try context.decode(type, from: document.root, at: .root, codingPath: [])
        } catch {
            throw context.place(error, at: .root, node: document.root)
        }
        if let unknown = context.firstUnknownKey() { throw unknown }
        if let validating = value as? any ConfigValidating {
            do {
                try validating.validate(at: .root, in: document.sourceMap)
            } catch let error as ConfigError {
                throw document.sourceMap.place(error, at: .root)
            }
        }
        return ConfigDocument(value: value, sourceMap: document.sourceMap)
    }

    /// Reads the file at `path` and decodes it like ``decodeDocument(_:from:file:)``.
    public func decodeDocument<T: Decodable>(_ type: T.Type, fromFileAt path: String) throws -> ConfigDocument<T> {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(
                .unreadableFile,
                "cannot read the file: \(error.localizedDescription)",
                hint: "Check that the path is right and readable, and that the file is UTF-8 text.",
                file: path
            )
        }
        return try decodeDocument(type, from: text, file: path)
    }
}
