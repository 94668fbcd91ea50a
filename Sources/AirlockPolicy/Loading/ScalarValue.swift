import Yams

/// A scalar as written, with what YAML would read it as.
///
/// Yams resolves plain scalars with YAML 1.1 rules (`yes`, `off` and `~` are booleans and null; `0660` is octal).
/// YAML 1.2 reads some of those differently, so the strict rules accept only text that means the same under both.
struct ScalarValue {
    enum Kind: Equatable {
        /// Quoted, block (`|`, `>`) or tagged `!!str`: text whatever it looks like.
        case quoted
        case plainText
        case null
        case boolean
        case integer
        case float
        case timestamp
    }

    let text: String
    let kind: Kind

    init(_ scalar: Node.Scalar) {
        text = scalar.string
        let implicit = Self.implicitTag(of: scalar.string)
        // Resolving a tag overwrites it in place (Yams does so when it compares keys), so a stored `str` on a plain
        // scalar means a written `!!str` only when the text would not resolve to `str` by itself.
        let isTaggedText = scalar.tag.rawValue == Tag.Name.str.rawValue && implicit != Tag.Name.str.rawValue
        if (scalar.style != .plain && scalar.style != .any) || isTaggedText {
            kind = .quoted
            return
        }
        switch implicit {
        case Tag.Name.null.rawValue: kind = .null
        case Tag.Name.bool.rawValue: kind = .boolean
        case Tag.Name.int.rawValue: kind = .integer
        case Tag.Name.float.rawValue: kind = .float
        case Tag.Name.timestamp.rawValue: kind = .timestamp
        default: kind = .plainText
        }
    }

    /// The tag YAML gives `text` when it is written plain and untagged.
    static func implicitTag(of text: String) -> String {
        Node(text).tag.rawValue
    }

    /// How the value reads in "got …": `string "abc"`, `integer 660`, `boolean yes`, `null`.
    var described: String {
        switch kind {
        case .quoted, .plainText: "string \(text.debugDescription)"
        case .null: text.isEmpty ? "nothing (null)" : "null"
        case .boolean: "boolean \(text)"
        case .integer: "integer \(text)"
        case .float: "float \(text)"
        case .timestamp: "timestamp \(text)"
        }
    }

    var isQuoted: Bool { kind == .quoted }

    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node else { return false }
        return ScalarValue(scalar).kind == .null
    }

    /// How any node reads in "got …".
    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): ScalarValue(scalar).described
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }
}
