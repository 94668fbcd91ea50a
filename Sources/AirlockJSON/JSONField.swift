/// A value and its path in the document, with typed accessors whose errors say where and what was expected.
public struct JSONField {
    public var value: JSONValue
    /// "limits.processes", "syscalls[3]"; empty for the document itself.
    public var path: String

    public init(_ value: JSONValue, path: String = "") {
        self.value = value
        self.path = path
    }

    public func error(_ message: String) -> JSONError {
        JSONError(message: message, offset: value.offset, line: value.line, column: value.column, path: path)
    }

    public var isNull: Bool { value.kind == .null }

    public func string() throws(JSONError) -> String {
        guard case .string(let text) = value.kind else { throw error("expected a string, found \(value.typeName)") }
        return text
    }

    /// An integer written without fraction or exponent, in range for `T`.
    public func integer<T: FixedWidthInteger>(_ type: T.Type) throws(JSONError) -> T {
        guard case .number(let text) = value.kind else {
            throw error("expected \(Self.describe(type)), found \(value.typeName)")
        }
        guard let number = T(text) else {
            let integral = !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })
            throw error(integral ? "\(text) is out of range for \(Self.describe(type))"
                                 : "expected \(Self.describe(type)), found \(text)")
        }
        return number
    }

    public func array() throws(JSONError) -> [JSONField] {
        guard case .array(let elements) = value.kind else { throw error("expected an array, found \(value.typeName)") }
        return elements.enumerated().map { JSONField($1, path: "\(path)[\($0)]") }
    }

    public func strings() throws(JSONError) -> [String] {
        var out: [String] = []
        for element in try array() { out.append(try element.string()) }
        return out
    }

    /// The object's members; with `known`, any other key is an error (a misspelt key in a security policy would
    /// otherwise silently fall back to a default, which usually means a weaker one).
    public func object(known: [String]? = nil) throws(JSONError) -> JSONObject {
        guard case .object(let members) = value.kind else { throw error("expected an object, found \(value.typeName)") }
        let object = JSONObject(members: members, path: path)
        if let known, let unknown = members.first(where: { !known.contains($0.key) }) {
            throw JSONError(message: "unknown key '\(unknown.key)'; expected one of: \(known.joined(separator: ", "))",
                            offset: unknown.offset, line: unknown.line, column: unknown.column, path: object.childPath(unknown.key))
        }
        return object
    }

    private static func describe<T: FixedWidthInteger>(_ type: T.Type) -> String {
        "\(T.isSigned ? "an" : "an unsigned") integer of \(T.bitWidth) bits"
    }
}

/// An object's members by key.
public struct JSONObject {
    public var members: [JSONMember]
    public var path: String

    public func childPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Every member as a field, in file order.
    public var fields: [(key: String, field: JSONField)] {
        members.map { ($0.key, JSONField($0.value, path: childPath($0.key))) }
    }

    /// The member, null included; nil when the key is absent.
    public func present(_ key: String) -> JSONField? {
        members.first { $0.key == key }.map { JSONField($0.value, path: childPath(key)) }
    }

    /// The member; nil when the key is absent or null (a null optional means "not given").
    public func optional(_ key: String) -> JSONField? {
        present(key).flatMap { $0.isNull ? nil : $0 }
    }

    /// The member, which must be present and not null.
    public func required(_ key: String, in whole: JSONField) throws(JSONError) -> JSONField {
        guard let field = present(key) else {
            throw JSONError(message: "required key is missing", offset: whole.value.offset, line: whole.value.line, column: whole.value.column,
                            path: childPath(key))
        }
        guard !field.isNull else { throw field.error("must not be null") }
        return field
    }
}
