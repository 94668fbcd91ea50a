import Foundation

struct TestResponseHead {
    var status: Int
    var headers: [String: String]

    init(parsing text: String) throws {
        let lines = text.components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            throw TestConnection.Failure(description: "bad status line: \(lines[0])")
        }
        self.status = status
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        self.headers = headers
    }

    func header(_ name: String) -> String? {
        self.headers[name.lowercased()]
    }
}

struct TestResponse {
    var head: TestResponseHead
    var body: String

    var status: Int { self.head.status }

    /// The body as a JSON object; throws when it is not one.
    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(self.body.utf8)) as? [String: Any] else {
            throw TestConnection.Failure(description: "body is not a JSON object: \(self.body)")
        }
        return object
    }

    func jsonArray() throws -> [[String: Any]] {
        guard let array = try JSONSerialization.jsonObject(with: Data(self.body.utf8)) as? [[String: Any]] else {
            throw TestConnection.Failure(description: "body is not a JSON array: \(self.body)")
        }
        return array
    }
}

/// One Server-Sent Event: its `event:` name (if any) and its `data:` payload.
struct SSEEvent {
    var name: String?
    var data: String

    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(self.data.utf8)) as? [String: Any] else {
            throw TestConnection.Failure(description: "event data is not a JSON object: \(self.data)")
        }
        return object
    }

    static func parse(_ text: String) -> [SSEEvent] {
        text.components(separatedBy: "\n\n").compactMap { block in
            var name: String?
            var data: [String] = []
            for line in block.split(separator: "\n") {
                if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { data.append(String(line.dropFirst(6))) }
            }
            return data.isEmpty ? nil : SSEEvent(name: name, data: data.joined(separator: "\n"))
        }
    }
}
