#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension OCISeccompProfile {
    /// Decodes profile JSON; errors carry the JSON path.
    public static func decode(_ data: Data) throws(SeccompProfileError) -> OCISeccompProfile {
        do {
            return try JSONDecoder().decode(OCISeccompProfile.self, from: data)
        } catch let error as DecodingError {
            throw SeccompProfileError(code: .invalidJSON, location: "profile", message: error.airlockSummary)
        } catch {
            throw SeccompProfileError(code: .invalidJSON, location: "profile", message: "\(error)")
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
