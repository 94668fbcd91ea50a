#if canImport(Glibc)
import Glibc
#endif
// `struct stat` comes from the C headers that swift-certificates' Foundation dependency also maps (CoreFoundation);
// with member import visibility that module must be imported where its members are used.
import CoreFoundation
import AirlockPolicy

/// A provider credential, read once at start-up (before the router drops privileges) and never logged:
/// its description is redacted.
struct Credential: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    let secret: String

    var description: String { "<redacted>" }
    var debugDescription: String { "<redacted>" }

    /// Reads the credential named by `source`. A file must not be readable by other users.
    static func load(_ source: CredentialSource, upstream: String) throws -> Credential {
        try load(source, owner: "upstream \"\(upstream)\"")
    }

    /// Reads the credential named by `source` for `owner` (what errors name: `upstream "x"`, a config key).
    static func load(_ source: CredentialSource, owner upstream: String) throws -> Credential {
        switch source {
        case .environment(let name):
            guard let value = getenv(name).map({ String(cString: $0) }), !value.isEmpty else {
                throw CredentialError(upstream: upstream, problem: "environment variable \(name) is not set or empty", hint: "Export it in the router's environment (systemd: EnvironmentFile= or LoadCredential=).")
            }
            return try validated(value.trimmingWhitespace(), upstream: upstream)
        case .file(let path):
            var st = stat()
            guard stat(path, &st) == 0 else {
                throw CredentialError(upstream: upstream, problem: "cannot stat \(path): \(String(cString: strerror(errno)))", hint: "Create the file, readable by the router user only (mode 0400 or 0600).")
            }
            if st.st_mode & 0o027 != 0 {
                throw CredentialError(upstream: upstream, problem: "\(path) is accessible to other users or writable by its group (mode \(String(st.st_mode & 0o777, radix: 8)))", hint: "chmod 0600 it (or 0640 with a group only the router is in) and chown it to the router user.")
            }
            let bytes: [UInt8]?
            do {
                bytes = try DurableFile.read(path, limit: 64 << 10)
            } catch {
                throw CredentialError(upstream: upstream, problem: "cannot read \(path): \(error)", hint: "Make it readable by the user that starts the router.")
            }
            guard let bytes else {
                throw CredentialError(upstream: upstream, problem: "\(path) does not exist", hint: "Create it with the provider key.")
            }
            return try validated(String(decoding: bytes, as: UTF8.self).trimmingWhitespace(), upstream: upstream)
        }
    }

    private static func validated(_ secret: String, upstream: String) throws -> Credential {
        guard !secret.isEmpty else {
            throw CredentialError(upstream: upstream, problem: "the credential is empty", hint: "Put the provider key in it.")
        }
        // A header value with CR, LF or NUL would split headers; refuse rather than forward it.
        guard secret.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) else {
            throw CredentialError(upstream: upstream, problem: "the credential contains control characters", hint: "Store only the key, on one line.")
        }
        return Credential(secret: secret)
    }
}

/// A credential could not be loaded. The message names its owner and the source, never the value.
struct CredentialError: Error, CustomStringConvertible {
    /// What the credential is for: `upstream "x"`, or a configuration key.
    let upstream: String
    let problem: String
    let hint: String

    var description: String { "credential for \(upstream): \(problem). \(hint)" }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
