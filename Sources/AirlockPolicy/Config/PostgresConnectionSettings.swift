/// How Airlock reaches a PostgreSQL server: the keys every PostgreSQL block shares (the router's `ledger.postgres`,
/// the witness's `--state-postgres` file), decoded and checked one way.
public struct PostgresConnectionSettings: Decodable, Sendable, Equatable {
    public enum TLSMode: String, ConfigEnum {
        /// Plain TCP: only for a server on the same host or a network the operator trusts.
        case disable
        /// TLS required, the server's certificate verified against `ca_file` (or the system roots) and its name.
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var database: String
    public var user: String
    /// A file holding the password, readable by its owner only; nil: the server asks for none.
    public var passwordFile: String?
    public var tls: TLSMode
    /// PEM certificates that sign the server's certificate; nil: the system's trust roots.
    public var caFile: String?
    /// The most any one database call may take, connecting included.
    public var timeout: ConfigDuration
    public var maxConnections: Int

    enum CodingKeys: String, CodingKey {
        case host, port, database, user, tls, timeout
        case passwordFile = "password_file"
        case caFile = "ca_file"
        case maxConnections = "max_connections"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        host = try c.decode(String.self, forKey: .host)
        port = try c.decodeIfPresent(Int.self, forKey: .port) ?? 5432
        database = try c.decode(String.self, forKey: .database)
        user = try c.decode(String.self, forKey: .user)
        passwordFile = try c.decodeIfPresent(String.self, forKey: .passwordFile)
        tls = try c.decodeIfPresent(TLSMode.self, forKey: .tls) ?? .verifyFull
        caFile = try c.decodeIfPresent(String.self, forKey: .caFile)
        timeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .timeout) ?? .seconds(2)
        maxConnections = try c.decodeIfPresent(Int.self, forKey: .maxConnections) ?? 8
    }

    public init(
        host: String,
        port: Int = 5432,
        database: String,
        user: String,
        passwordFile: String? = nil,
        tls: TLSMode = .verifyFull,
        caFile: String? = nil,
        timeout: ConfigDuration = .seconds(2),
        maxConnections: Int = 8
    ) {
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.passwordFile = passwordFile
        self.tls = tls
        self.caFile = caFile
        self.timeout = timeout
        self.maxConnections = maxConnections
    }

    /// What is wrong with these settings, each at `prefix` + "." + key (`prefix` empty: the bare key).
    public func issues(at prefix: String) -> [ConfigIssue] {
        var issues: [ConfigIssue] = []
        func add(_ key: String, _ message: String, _ hint: String) {
            issues.append(ConfigIssue(prefix.isEmpty ? key : prefix + "." + key, message, hint: hint))
        }
        if host.isEmpty || host.utf8.count > 253
            || host.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value >= 0x7F || $0 == "/" })
        {
            add("host", "\"\(host)\" is not a host name or address", "Use the database server's DNS name (needed for verify-full) or IP address.")
        } else if tls == .verifyFull && IPAddress.parse(host) != nil {
            // The client names the server by its host for certificate checks (and SNI) only when it is a DNS name.
            add("host", "verify-full needs the server's DNS name, not the address \(host)", "Use the name the server's certificate carries (or `tls: disable` on a trusted network).")
        }
        if !(1...65_535).contains(port) {
            add("port", "\(port) is out of range", "Use a value from 1 to 65535.")
        }
        for (key, value) in [("database", database), ("user", user)]
        where value.isEmpty || value.utf8.count > 63 || value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            add(key, "\"\(value)\" is not a PostgreSQL identifier", "Use 1–63 printable characters.")
        }
        for (key, path) in [("password_file", passwordFile), ("ca_file", caFile)] {
            if let path, !path.hasPrefix("/") {
                add(key, "\"\(path)\" is not an absolute path", "Use the absolute path of the mounted file.")
            }
        }
        if caFile != nil && tls == .disable {
            add("ca_file", "a CA file with `tls: disable` would never be used", "Set `tls: verify-full`, or remove `ca_file`.")
        }
        let timeouts = ConfigDuration.milliseconds(10)...ConfigDuration.seconds(60)
        if !timeouts.contains(timeout) {
            add("timeout", "\(timeout) is out of range", "Use a duration from \(timeouts.lowerBound) to \(timeouts.upperBound).")
        }
        if !(1...256).contains(maxConnections) {
            add("max_connections", "\(maxConnections) is out of range", "Use a value from 1 to 256.")
        }
        return issues
    }
}

extension PostgresConnectionSettings {
    /// Reads, strictly decodes and checks a file holding only these keys (YAML or JSON), as the witness's
    /// `--state-postgres` takes it. Every problem names the file, line and key.
    public static func load(path: String) throws -> PostgresConnectionSettings {
        let bytes = try ConfigLoader.readFile(path)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigLoadError(path: path, problems: ["\(path): the file is not valid UTF-8. Save it as UTF-8 text."])
        }
        let document = try StrictYAMLDecoder().decodeDocument(PostgresConnectionSettings.self, from: text, file: path)
        let issues = document.value.issues(at: "")
        guard issues.isEmpty else {
            throw ConfigLoadError(
                path: path,
                problems: issues.map { issue in
                    document.error(at: ConfigPath(dotted: issue.path), issue.message, hint: issue.hint).description
                }
            )
        }
        return document.value
    }
}
