extension ConfigError {
    /// A stable identifier for the kind of a ``ConfigError``; new codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case unreadableFile
            case invalidYAML
            case emptyDocument
            case multipleDocuments
            case duplicateKey
            case anchorOrAlias
            case mergeKey
            case explicitTag
            case unknownKey
            case missingKey
            case typeMismatch
            case nullValue
            case outOfRange
            case invalidValue
            case validation
        }

        let base: Base

        /// The file could not be read.
        public static let unreadableFile = Code(base: .unreadableFile)
        /// The text is not well-formed YAML (or JSON).
        public static let invalidYAML = Code(base: .invalidYAML)
        /// The file holds no document, or only `null`.
        public static let emptyDocument = Code(base: .emptyDocument)
        /// The file holds more than one `---` document.
        public static let multipleDocuments = Code(base: .multipleDocuments)
        /// A mapping has the same key twice.
        public static let duplicateKey = Code(base: .duplicateKey)
        /// An anchor (`&name`) or alias (`*name`) was used.
        public static let anchorOrAlias = Code(base: .anchorOrAlias)
        /// A merge key (`<<`) was used.
        public static let mergeKey = Code(base: .mergeKey)
        /// An explicit tag such as `!!int` or `!custom` was used.
        public static let explicitTag = Code(base: .explicitTag)
        /// A key that the configuration type does not know.
        public static let unknownKey = Code(base: .unknownKey)
        /// A required key is absent.
        public static let missingKey = Code(base: .missingKey)
        /// A value of the wrong kind, such as a string where an integer belongs.
        public static let typeMismatch = Code(base: .typeMismatch)
        /// `null` (or nothing) where a value is required.
        public static let nullValue = Code(base: .nullValue)
        /// A number outside the range its field accepts.
        public static let outOfRange = Code(base: .outOfRange)
        /// A value of the right kind that is not acceptable, such as an unknown enum case or a bad duration.
        public static let invalidValue = Code(base: .invalidValue)
        /// A rule checked after decoding, by the configuration types themselves.
        public static let validation = Code(base: .validation)

        public var description: String { base.rawValue }
    }
}
