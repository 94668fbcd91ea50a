import Yams

/// A `Decoder` over one composed YAML node.
struct NodeDecoder: Decoder {
    let node: Node
    let path: ConfigPath
    let codingPath: [any CodingKey]
    let context: DecodingContext

    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .mapping(let mapping) = node else {
            throw context.error(
                .typeMismatch,
                "expected a mapping of keys to values, got \(ScalarValue.describe(node))",
                at: path,
                node: node
            )
        }
        context.register(mapping, at: path)
        return KeyedDecodingContainer(
            NodeKeyedContainer<Key>(mapping: mapping, node: node, path: path, codingPath: codingPath, context: context)
        )
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .sequence(let sequence) = node else {
            throw context.error(
                .typeMismatch,
                "expected a list, got \(ScalarValue.describe(node))",
                hint: "Write the items as `- item` lines or as `[a, b]`.",
                at: path,
                node: node
            )
        }
        return NodeUnkeyedContainer(elements: Array(sequence), path: path, codingPath: codingPath, context: context)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        NodeSingleValueContainer(node: node, path: path, codingPath: codingPath, context: context)
    }
}
