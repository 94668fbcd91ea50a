import AirlockJSON

extension SandboxPolicy {
    static let keys = [
        "workdir", "uid", "gid", "hostAccount", "readonlyPaths", "readwritePaths", "allowSocketPaths", "hiddenPaths", "limits", "landlock",
        "seccompProfile", "routerPorts", "environment", "tmpSize",
    ]

    /// Decodes a policy document; every key is optional, an unknown key is an error.
    public static func decode(_ bytes: [UInt8]) throws(JSONError) -> SandboxPolicy {
        try SandboxPolicy(JSONField(try JSONReader.parse(bytes)))
    }

    init(_ field: JSONField) throws(JSONError) {
        let c = try field.object(known: Self.keys)
        self.init()
        // An absent key or null keeps the default, except where null has a meaning of its own (seccompProfile:
        // no filter).
        if let v = c.optional("workdir") { workdir = try v.string() }
        if let v = c.optional("uid") { uid = try v.integer(UInt32.self) }
        if let v = c.optional("gid") { gid = try v.integer(UInt32.self) }
        if let v = c.optional("hostAccount") { hostAccount = try v.string() }
        if let v = c.optional("readonlyPaths") { readonlyPaths = try v.strings() }
        if let v = c.optional("readwritePaths") { readwritePaths = try v.strings() }
        if let v = c.optional("allowSocketPaths") { allowSocketPaths = try v.strings() }
        if let v = c.optional("hiddenPaths") { hiddenPaths = try v.strings() }
        if let v = c.optional("limits") { limits = try ResourceLimits(v) }
        if let v = c.optional("landlock") {
            let text = try v.string()
            guard let mode = LandlockMode(rawValue: text) else {
                throw v.error("'\(text)' is not a Landlock mode; expected required or best-effort")
            }
            landlock = mode
        }
        if let v = c.present("seccompProfile") { seccompProfile = v.isNull ? nil : try v.string() }
        if let v = c.optional("routerPorts") {
            routerPorts = []
            for port in try v.array() { routerPorts.append(try port.integer(UInt16.self)) }
        }
        if let v = c.optional("environment") {
            environment = [:]
            for (name, value) in try v.object().fields { environment[name] = try value.string() }
        }
        if let v = c.optional("tmpSize") { tmpSize = try v.string() }
    }
}

extension ResourceLimits {
    static let keys = ["openFiles", "processes", "addressSpaceBytes", "fileSizeBytes", "cpuSeconds", "coreBytes"]

    init(_ field: JSONField) throws(JSONError) {
        let c = try field.object(known: Self.keys)
        self.init()
        // A present key with null means "leave the inherited limit".
        func value(_ key: String, _ fallback: UInt64?) throws(JSONError) -> UInt64? {
            guard let v = c.present(key) else { return fallback }
            return v.isNull ? nil : try v.integer(UInt64.self)
        }
        openFiles = try value("openFiles", openFiles)
        processes = try value("processes", processes)
        addressSpaceBytes = try value("addressSpaceBytes", addressSpaceBytes)
        fileSizeBytes = try value("fileSizeBytes", fileSizeBytes)
        cpuSeconds = try value("cpuSeconds", cpuSeconds)
        coreBytes = try value("coreBytes", coreBytes)
    }
}
