import Yams

/// The elements of a sequence node, in order.
struct NodeUnkeyedContainer: UnkeyedDecodingContainer {
    let elements: [Node]
    let path: ConfigPath
    let codingPath: [any CodingKey]
    let context: DecodingContext
    private(set) var currentIndex = 0

    init(elements: [Node], path: ConfigPath, codingPath: [any CodingKey], context: DecodingContext) {
        self.elements = elements
        self.path = path
        self.codingPath = codingPath
        self.context = context
    }

    var count: Int? { elements.count }

    var isAtEnd: Bool { currentIndex >= elements.count }

    mutating func decodeNil() throws -> Bool {
        let element = try current()
        guard ScalarValue.isNull(element) else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next(type) }
    mutating func decode(_ type: Bool.Type) throws -> Bool { try next(type) }
    mutating func decode(_ type: String.Type) throws -> String { try next(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try next(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try next(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type
    ) throws -> KeyedDecodingContainer<NestedKey> {
        let decoder = try nextDecoder()
        return try decoder.container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try nextDecoder().unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        try nextDecoder()
    }

    private mutating func next<T: Decodable>(_ type: T.Type) throws -> T {
        let element = try current()
        let value = try context.decode(
            type,
            from: element,
            at: path.index(currentIndex),
            codingPath: codingPath + [IndexKey(currentIndex)]
        )
        currentIndex += 1
        return value
    }

    private mutating func nextDecoder() throws -> NodeDecoder {
        let element = try current()
        defer { currentIndex += 1 }
        return NodeDecoder(
            node: element,
            path: path.index(currentIndex),
            codingPath: codingPath + [IndexKey(currentIndex)],
            context: context
        )
    }

    private func current() throws -> Node {
        guard !isAtEnd else {
            throw ConfigError(
                .missingKey,
                "expected at least \(currentIndex + 1) items, got \(elements.count)",
                path: path,
                file: context.file,
                location: context.sourceMap.nearestLocation(of: path)
            )
        }
        return elements[currentIndex]
    }
}
