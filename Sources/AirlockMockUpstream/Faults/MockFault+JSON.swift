import Foundation

extension MockFault {
    static let jsonKeys: Set<String> = [
        "path", "count", "status", "retry_after", "delay_before_headers_ms", "chunk_delay_ms", "reset_after_bytes",
        "hang",
    ]

    /// Parses the `POST /__mock/faults` body: a JSON array of fault objects, or a single object.
    public static func parseList(json: [UInt8]) throws(MockUpstreamError) -> [MockFault] {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(json))
        } catch {
            throw MockUpstreamError(code: .invalidFault, message: "fault plan: body is not valid JSON")
        }
        let items: [Any] = (object as? [Any]) ?? [object]
        var faults: [MockFault] = []
        for (index, item) in items.enumerated() {
            guard let dictionary = item as? [String: Any] else {
                throw MockUpstreamError(code: .invalidFault, message: "fault plan[\(index)]: expected a JSON object")
            }
            faults.append(try MockFault(json: dictionary, at: "fault plan[\(index)]"))
        }
        return faults
    }

    /// A fault from one decoded JSON object; unknown keys and wrong types are errors naming the key.
    init(json: [String: Any], at location: String) throws(MockUpstreamError) {
        for key in json.keys where !Self.jsonKeys.contains(key) {
            throw MockUpstreamError(
                code: .invalidFault,
                message:
                    "\(location).\(key): unknown key; known keys: \(Self.jsonKeys.sorted().joined(separator: ", "))"
            )
        }
        func integer(_ key: String, in range: ClosedRange<Int>) throws(MockUpstreamError) -> Int? {
            guard let raw = json[key], !(raw is NSNull) else { return nil }
            guard let number = raw as? NSNumber, !Self.isBool(number),
                number.doubleValue == number.doubleValue.rounded(),
                range.contains(number.intValue)
            else {
                throw MockUpstreamError(
                    code: .invalidFault,
                    message: "\(location).\(key): expected an integer in \(range.lowerBound)...\(range.upperBound)"
                )
            }
            return number.intValue
        }
        var fault = MockFault()
        if let raw = json["path"], !(raw is NSNull) {
            guard let path = raw as? String else {
                throw MockUpstreamError(code: .invalidFault, message: "\(location).path: expected a string")
            }
            fault.path = path
        }
        fault.count = try integer("count", in: 1...1_000_000) ?? 1
        fault.status = try integer("status", in: 100...599)
        if let raw = json["retry_after"], !(raw is NSNull) {
            if let text = raw as? String {
                fault.retryAfter = text
            } else if let number = raw as? NSNumber, !Self.isBool(number) {
                fault.retryAfter = number.stringValue
            } else {
                throw MockUpstreamError(code: .invalidFault, message: "\(location).retry_after: expected a string")
            }
        }
        fault.delayBeforeHeadersMs = try integer("delay_before_headers_ms", in: 0...3_600_000)
        fault.chunkDelayMs = try integer("chunk_delay_ms", in: 0...3_600_000)
        fault.resetAfterBytes = try integer("reset_after_bytes", in: 0...Int(Int32.max))
        if let raw = json["hang"], !(raw is NSNull) {
            guard let number = raw as? NSNumber, Self.isBool(number) else {
                throw MockUpstreamError(code: .invalidFault, message: "\(location).hang: expected true or false")
            }
            fault.hang = number.boolValue
        }
        self = fault
    }

    /// This fault as a JSON object, in the same format `POST /__mock/faults` accepts.
    var jsonText: String {
        var members: [(String, String)] = []
        if let path { members.append(("path", JSONText.quoted(path))) }
        members.append(("count", String(self.count)))
        if let status { members.append(("status", String(status))) }
        if let retryAfter { members.append(("retry_after", JSONText.quoted(retryAfter))) }
        if let delayBeforeHeadersMs { members.append(("delay_before_headers_ms", String(delayBeforeHeadersMs))) }
        if let chunkDelayMs { members.append(("chunk_delay_ms", String(chunkDelayMs))) }
        if let resetAfterBytes { members.append(("reset_after_bytes", String(resetAfterBytes))) }
        if self.hang { members.append(("hang", "true")) }
        return JSONText.object(members)
    }

    private static func isBool(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c" || type(of: number) == type(of: NSNumber(value: true))
    }
}
