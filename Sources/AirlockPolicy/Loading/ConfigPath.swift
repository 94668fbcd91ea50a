/// The key path of a value in a configuration file, such as `router.listeners[1].mode` or `models["gpt-4o"]`.
///
/// Indexes are 0-based. Keys of a type's own fields print with dots; keys of free-form dictionaries print in
/// brackets, as do field keys that are not identifiers.
public struct ConfigPath: Hashable, Sendable, CustomStringConvertible, ExpressibleByArrayLiteral {
    /// One step of a path.
    public enum Component: Hashable, Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
        /// A field of a configuration type.
        case key(String)
        /// A key of a free-form dictionary, such as a model name.
        case entry(String)
        /// A 0-based position in a sequence.
        case index(Int)

        public init(stringLiteral value: String) { self = .key(value) }

        public init(integerLiteral value: Int) { self = .index(value) }
    }

    /// The steps from the top of the document.
    public var components: [Component]

    /// The top of the document.
    public static let root = ConfigPath([])

    /// Creates a path from its steps.
    public init(_ components: [Component]) { self.components = components }

    public init(arrayLiteral elements: Component...) { self.components = elements }

    /// Whether this is the top of the document.
    public var isRoot: Bool { components.isEmpty }

    /// This path extended by a field key.
    public func key(_ name: String) -> ConfigPath { appending(.key(name)) }

    /// This path extended by a dictionary key.
    public func entry(_ name: String) -> ConfigPath { appending(.entry(name)) }

    /// This path extended by a sequence index.
    public func index(_ position: Int) -> ConfigPath { appending(.index(position)) }

    /// This path extended by one step.
    public func appending(_ component: Component) -> ConfigPath { ConfigPath(components + [component]) }

    /// This path extended by another, relative, path.
    public func appending(_ other: ConfigPath) -> ConfigPath { ConfigPath(components + other.components) }

    public var description: String {
        var text = ""
        for component in components {
            switch component {
            case .key(let name) where Self.isIdentifier(name):
                text += text.isEmpty ? name : ".\(name)"
            case .key(let name), .entry(let name):
                text += "[\(Self.quoted(name))]"
            case .index(let position):
                text += "[\(position)]"
            }
        }
        return text
    }

    /// Where the path is, in a sentence: "in `router`", or "at the top level" for the root.
    var spoken: String { isRoot ? "at the top level" : "in `\(self)`" }

    /// The path with keys and entries made alike, for looking up locations whatever the types said.
    var lookupKey: [LookupStep] {
        components.map { component in
            switch component {
            case .key(let name), .entry(let name): .name(name)
            case .index(let position): .index(position)
            }
        }
    }

    enum LookupStep: Hashable, Sendable {
        case name(String)
        case index(Int)
    }

    private static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || first.properties.isAlphabetic else {
            return false
        }
        return name.unicodeScalars.allSatisfy { $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0) }
    }

    private static func quoted(_ name: String) -> String {
        var text = "\""
        for scalar in name.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\t": text += "\\t"
            default: text.unicodeScalars.append(scalar)
            }
        }
        return text + "\""
    }
}
