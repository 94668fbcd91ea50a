import Yams

/// The members of a mapping node; every key asked for is recorded so unknown keys can be reported afterwards.
struct NodeKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let node: Node
    let path: ConfigPath
    let codingPath: [any CodingKey]
    let context: DecodingContext
    private let members: [String: Node]

    init(mapping: Node.Mapping, node: Node, path: ConfigPath, codingPath: [any CodingKey], context: DecodingContext) {
        var members: [String: Node] = [:]
        for (key, value) in mapping {
            if let name = key.scalar?.string { members[name] = value }
        }
        self.members = members
        self.node = node
        self.path = path
        self.codingPath = codingPath
        self.context = context
    }

    var allKeys: [Key] {
        context.markAcceptsAnyKey(at: path)
        return members.keys.sorted().compactMap { Key(stringValue: $0) }
    }

    func contains(_ key: Key) -> Bool {
        context.markAsked(key.stringValue, at: path)
        return members[key.stringValue] != nil
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        ScalarValue.isNull(try member(key))
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try value(type, key) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try value(type, key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try value(type, key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try value(type, key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try value(type, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try value(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try value(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try value(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try value(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try value(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try value(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try value(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try value(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try value(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try value(type, key) }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? { try optional(type, key) }
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try optional(type, key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try optional(type, key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try optional(type, key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try optional(type, key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try optional(type, key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try optional(type, key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try optional(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try optional(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try optional(type, key) }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type,
        forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try decoder(for: key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder(for: key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        try decoder(for: SuperKey.super)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        try decoder(for: key)
    }

    private func value<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T {
        let member = try member(key)
        return try context.decode(type, from: member, at: childPath(key), codingPath: codingPath + [key])
    }

    private func optional<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        context.markAsked(key.stringValue, at: path)
        guard let member = members[key.stringValue], !ScalarValue.isNull(member) else { return nil }
        return try context.decode(type, from: member, at: childPath(key), codingPath: codingPath + [key])
    }

    private func decoder(for key: some CodingKey) throws -> NodeDecoder {
        NodeDecoder(node: try member(key), path: childPath(key), codingPath: codingPath + [key], context: context)
    }

    private func childPath(_ key: some CodingKey) -> ConfigPath {
        context.acceptsAnyKey(at: path) ? path.entry(key.stringValue) : path.key(key.stringValue)
    }

    private func member(_ key: some CodingKey) throws -> Node {
        context.markAsked(key.stringValue, at: path)
        if let member = members[key.stringValue] { return member }
        let message = "missing required key `\(key.stringValue)` \(path.spoken)"
        if let typo = context.misspelling(of: key.stringValue, at: path) {
            throw ConfigError(
                .missingKey,
                message,
                hint: "Did you mean `\(key.stringValue)` instead of `\(typo.key)`?",
                path: path.key(typo.key),
                file: context.file,
                location: typo.location
            )
        }
        throw context.error(.missingKey, message, hint: "Add `\(key.stringValue):` here.", at: path, node: node)
    }
}

private enum SuperKey: String, CodingKey {
    case `super`
}
