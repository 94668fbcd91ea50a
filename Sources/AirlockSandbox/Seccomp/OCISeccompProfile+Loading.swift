import AirlockJSON

extension OCISeccompProfile {
    /// Decodes profile JSON; errors carry the line, column and JSON path.
    public static func decode(_ bytes: [UInt8]) throws(SeccompProfileError) -> OCISeccompProfile {
        do {
            return try OCISeccompProfile(JSONField(try JSONReader.parse(bytes)))
        } catch {
            throw SeccompProfileError(code: .invalidJSON, location: "profile", message: error.description)
        }
    }

    /// Reads and decodes a profile file.
    public static func load(path: String) throws -> OCISeccompProfile {
        do {
            return try decode(try readFile(path))
        } catch let error as SeccompProfileError {
            throw PolicyFileError(path: path, message: error.description)
        }
    }
}
