import Yams

extension DecodingContext {
    /// Decodes one value: scalars by the strict rules, everything else through its own `init(from:)`.
    func decode<T: Decodable>(
        _ type: T.Type,
        from node: Node,
        at path: ConfigPath,
        codingPath: [any CodingKey]
    ) throws -> T {
        let scalarType = T.self as? any StrictScalar.Type
        if ScalarValue.isNull(node), !(T.self is any OptionalDecoding.Type) {
            throw error(
                .nullValue,
                "expected \(scalarType?.expectation ?? "a value"), got \(ScalarValue.describe(node))",
                hint: scalarType?.nullHint ?? "Give it a value; only optional settings may be null or empty.",
                at: path,
                node: node
            )
        }
        if let scalarType {
            guard case .scalar(let scalar) = node else {
                throw error(
                    .typeMismatch,
                    "expected \(scalarType.expectation), got \(ScalarValue.describe(node))",
                    at: path,
                    node: node
                )
            }
            do {
                // The cast cannot fail: `scalarType` is `T.self`.
                return try scalarType.init(strict: ScalarValue(scalar)) as! T
            } catch {
                throw place(error, at: path, node: node)
            }
        }
        if case .mapping(let mapping) = node {
            // Registered before the type runs, so a type that never opens a container still has its keys checked.
            register(mapping, at: path)
        }
        let decoder = NodeDecoder(node: node, path: path, codingPath: codingPath, context: self)
        do {
            return try T(from: decoder)
        } catch {
            throw place(error, at: path, node: node)
        }
    }

    /// Gives an error thrown while decoding the value at `path` a file, location and absolute path.
    func place(_ error: any Error, at path: ConfigPath, node: Node) -> any Error {
        switch error {
        case let error as ConfigError:
            guard error.isUnplaced else { return error }
            var placed = error
            placed.path = path.appending(error.path)
            placed.file = file
            placed.location =
                error.path.isRoot
                ? node.mark.map(ConfigLocation.init) : sourceMap.nearestLocation(of: placed.path)
            return placed
        case let error as DecodingError:
            return translate(error)
        default:
            return self.error(.invalidValue, "\(error)", at: path, node: node)
        }
    }

    /// Errors from `init(from:)` implementations that throw `DecodingError` themselves.
    private func translate(_ error: DecodingError) -> ConfigError {
        func placed(_ code: ConfigError.Code, _ message: String, _ context: DecodingError.Context) -> ConfigError {
            let path = ConfigPath(codingPath: context.codingPath)
            return ConfigError(code, message, path: path, file: file, location: sourceMap.nearestLocation(of: path))
        }
        switch error {
        case .dataCorrupted(let context):
            return placed(.invalidValue, context.debugDescription, context)
        case .typeMismatch(let type, let context):
            return placed(.typeMismatch, "expected \(type): \(context.debugDescription)", context)
        case .valueNotFound(let type, let context):
            return placed(.nullValue, "expected \(type): \(context.debugDescription)", context)
        case .keyNotFound(let key, let context):
            return placed(.missingKey, "missing required key `\(key.stringValue)`", context)
        @unknown default:
            return ConfigError(.invalidValue, "\(error)", file: file)
        }
    }
}

/// Lets the null check tell `Optional`, which decodes `null` itself, from everything else.
protocol OptionalDecoding {}

extension Optional: OptionalDecoding {}

extension ConfigPath {
    init(codingPath: [any CodingKey]) {
        self.init(
            codingPath.map { key in
                if key is IndexKey, let position = key.intValue { return .index(position) }
                return .key(key.stringValue)
            }
        )
    }
}

/// The coding key of a sequence element.
struct IndexKey: CodingKey {
    let intValue: Int?
    let stringValue: String

    init(_ position: Int) {
        intValue = position
        stringValue = "\(position)"
    }

    init?(intValue: Int) { self.init(intValue) }

    init?(stringValue: String) { nil }
}
