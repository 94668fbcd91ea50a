import Yams

/// A parsed configuration document: its single root node and where each value was written.
struct ComposedDocument {
    let root: Node
    let sourceMap: ConfigSourceMap
}

/// Turns text into one checked YAML tree, or a ``ConfigError`` that says what is wrong with the text itself.
enum YAMLComposer {
    /// How deep libyaml lets a document nest (its `MAX_NESTING_LEVEL`).
    static let maxNesting = 1000

    static func compose(_ text: String, file: String) throws -> ComposedDocument {
        let parser: Parser
        let root: Node?
        do {
            parser = try Parser(yaml: text, resolver: .default, constructor: .default, encoding: .utf8)
            root = try parser.nextRoot()
        } catch let error as YamlError {
            throw translate(error, text: text, file: file)
        }
        guard let root, !ScalarValue.isNull(root) else {
            throw ConfigError(
                .emptyDocument,
                "the file holds no configuration",
                hint: "Write the configuration as a mapping of keys to values.",
                file: file,
                location: root?.mark.map(ConfigLocation.init) ?? ConfigLocation(line: 1, column: 1)
            )
        }
        do {
            if let second = try parser.nextRoot() {
                throw ConfigError(
                    .multipleDocuments,
                    "the file holds more than one YAML document",
                    hint: "Keep a single document: remove the `---` separator and whatever follows it.",
                    file: file,
                    location: second.mark.map(ConfigLocation.init)
                )
            }
        } catch let error as YamlError {
            throw translate(error, text: text, file: file)
        }
        // Anchors are weak references that only the parser keeps alive, so look for them while it still exists.
        let index = try withExtendedLifetime(parser) { try NodeIndexer.index(root, file: file) }
        return ComposedDocument(root: root, sourceMap: ConfigSourceMap(file: file, entries: index))
    }

    private static func translate(_ error: YamlError, text: String, file: String) -> ConfigError {
        var hint = "Check the indentation and quoting on this line and the one before it."
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _):
            if text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
                .dropFirst(mark.line - 1).first?.contains("\t") == true
            {
                hint = "Indent with spaces; YAML does not allow tabs for indentation."
            }
            if problem.contains("nesting level") {
                // libyaml's own words name its C API; say what the file does instead.
                return ConfigError(
                    .invalidYAML,
                    "invalid YAML: the document nests deeper than the parser allows (\(Self.maxNesting) levels)",
                    hint: "A configuration nests a few levels; look for a run of unclosed '[' or '{' here.",
                    file: file,
                    location: clamped(ConfigLocation(mark), to: text)
                )
            }
            return ConfigError(
                .invalidYAML,
                "invalid YAML: \(problem)\(context.map { " \($0.text)" } ?? "")",
                hint: hint,
                file: file,
                location: clamped(ConfigLocation(mark), to: text)
            )
        case .composer(_, let problem, let mark, _):
            let isAlias = problem.contains("alias")
            return ConfigError(
                isAlias ? .anchorOrAlias : .invalidYAML,
                isAlias ? "aliases (*name) are not allowed: \(problem)" : "invalid YAML: \(problem)",
                hint: isAlias ? AnchorRule.hint : hint,
                file: file,
                location: ConfigLocation(mark)
            )
        case .duplicatedKeysInMapping(let duplicates, let context):
            return DuplicateKeyLocator.error(
                key: duplicates.first ?? "",
                firstAt: context.mark,
                text: text,
                file: file
            )
        case .reader(let problem, let offset, _, _):
            return ConfigError(
                .invalidYAML,
                "the file is not valid UTF-8 text: \(problem)",
                hint: "Save the file as UTF-8.",
                file: file,
                location: offset.flatMap { location(ofCharacterOffset: $0, in: text) }
            )
        default:
            return ConfigError(.invalidYAML, "invalid YAML: \(error)", file: file)
        }
    }

    /// libyaml reports errors found at the end of the text on a line after the last; point at the last instead.
    private static func clamped(_ location: ConfigLocation, to text: String) -> ConfigLocation {
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        guard location.line > lines.count, let last = lines.last else { return location }
        return ConfigLocation(line: lines.count, column: last.unicodeScalars.count + 1)
    }

    private static func location(ofCharacterOffset offset: Int, in text: String) -> ConfigLocation? {
        var location = ConfigLocation(line: 1, column: 1)
        for (position, character) in text.enumerated() {
            if position == offset { return location }
            if character.isNewline {
                location = ConfigLocation(line: location.line + 1, column: 1)
            } else {
                location.column += 1
            }
        }
        return nil
    }
}

extension ConfigLocation {
    init(_ mark: Mark) {
        self.init(line: mark.line, column: mark.column)
    }
}

enum AnchorRule {
    static let hint = "Write each value out in full; a policy file must say everything where it applies."
}
