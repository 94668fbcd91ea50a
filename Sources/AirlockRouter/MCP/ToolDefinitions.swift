import AirlockJSON
import Crypto

/// The tool definitions of a `tools/list` result: the digest of each, and the result cut down to the tools a
/// sandbox may use.
///
/// A definition's digest is SHA-256 over the canonical JSON of the object made of its `name`, `description` and
/// `inputSchema` (those present): members sorted by the bytes of their UTF-8 names, no whitespace, strings with
/// only the escapes RFC 8259 requires (`"`, `\`, control characters, `\n` `\r` `\t` short), numbers as the server
/// wrote them. A change to any of the three, a description swapped after approval included, changes the digest.
enum ToolDefinitions {
    /// The members of a tool definition the digest covers.
    static let digested = ["description", "inputSchema", "name"]

    struct Filtered {
        /// The message with only the kept tools.
        var message: [UInt8]
        /// Every listed tool's name and digest, kept or not, in order.
        var listed: [(name: String, digest: String)]
    }

    /// When `message` is a JSON-RPC response whose `result.tools` is an array: the message with only the tools
    /// `keep(name, digest)` approves (a malformed tool, without a string name, is dropped). Nil for any other
    /// message, which passes unchanged.
    static func filter(_ message: [UInt8], keep: (String, String) -> Bool) -> Filtered? {
        let scanner = JSONScanner(message)
        guard let root = try? scanner.validateDocument(), root.kind == .object,
            let tools = scanner.value(at: ["result", "tools"], in: root), tools.kind == .array
        else { return nil }
        var kept: [JSONScanner.Span] = []
        var listed: [(name: String, digest: String)] = []
        for element in scanner.elements(of: tools) {
            guard element.kind == .object, let name = scanner.value(of: element, key: "name").flatMap(scanner.string),
                let value = try? JSONReader.parse(Array(message[element.start..<element.end])),
                let digest = digest(value)
            else { continue }
            listed.append((name, digest))
            if keep(name, digest) { kept.append(element) }
        }
        var out: [UInt8] = []
        out.reserveCapacity(message.count)
        out.append(contentsOf: message[..<tools.start])
        out.append(UInt8(ascii: "["))
        for (i, element) in kept.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: message[element.start..<element.end])
        }
        out.append(UInt8(ascii: "]"))
        out.append(contentsOf: message[tools.end...])
        return Filtered(message: out, listed: listed)
    }

    /// The digest of one tool definition (lowercase hex), or nil when it is not an object.
    static func digest(_ tool: JSONValue) -> String? {
        guard case .object(let members) = tool.kind else { return nil }
        var out: [UInt8] = []
        canonical(members: members.filter { digested.contains($0.key) }, into: &out)
        return Hex.encode(SHA256.hash(data: out))
    }

    /// The canonical form described above.
    static func canonical(_ value: JSONValue, into out: inout [UInt8]) {
        switch value.kind {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let text): out.append(contentsOf: JSONText.quoted(text).utf8)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                canonical(element, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            canonical(members: members, into: &out)
        }
    }

    private static func canonical(members: [JSONMember], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        let sorted = members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        for (i, member) in sorted.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: JSONText.quoted(member.key).utf8)
            out.append(UInt8(ascii: ":"))
            canonical(member.value, into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }
}
