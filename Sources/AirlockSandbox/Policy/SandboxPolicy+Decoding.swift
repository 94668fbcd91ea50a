extension SandboxPolicy: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case workdir, uid, gid, readonlyPaths, readwritePaths, hiddenPaths, limits, landlock, seccompProfile
        case routerPorts, environment, tmpSize
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.stringValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var p = SandboxPolicy()
        p.workdir = try c.decodeIfPresent(String.self, forKey: .workdir)
        p.uid = try c.decodeIfPresent(UInt32.self, forKey: .uid) ?? p.uid
        p.gid = try c.decodeIfPresent(UInt32.self, forKey: .gid) ?? p.gid
        p.readonlyPaths = try c.decodeIfPresent([String].self, forKey: .readonlyPaths) ?? p.readonlyPaths
        p.readwritePaths = try c.decodeIfPresent([String].self, forKey: .readwritePaths) ?? p.readwritePaths
        p.hiddenPaths = try c.decodeIfPresent([String].self, forKey: .hiddenPaths) ?? p.hiddenPaths
        p.limits = try c.decodeIfPresent(ResourceLimits.self, forKey: .limits) ?? p.limits
        p.landlock = try c.decodeIfPresent(LandlockMode.self, forKey: .landlock) ?? p.landlock
        if c.contains(.seccompProfile) {
            p.seccompProfile = try c.decodeIfPresent(String.self, forKey: .seccompProfile)
        }
        p.routerPorts = try c.decodeIfPresent([UInt16].self, forKey: .routerPorts) ?? p.routerPorts
        p.environment = try c.decodeIfPresent([String: String].self, forKey: .environment) ?? p.environment
        p.tmpSize = try c.decodeIfPresent(String.self, forKey: .tmpSize) ?? p.tmpSize
        self = p
    }
}

extension ResourceLimits: Decodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case openFiles, processes, addressSpaceBytes, fileSizeBytes, cpuSeconds, coreBytes
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.stringValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var l = ResourceLimits()
        // A present key with null means "leave the inherited limit".
        func value(_ key: CodingKeys, _ fallback: UInt64?) throws -> UInt64? {
            c.contains(key) ? try c.decodeIfPresent(UInt64.self, forKey: key) : fallback
        }
        l.openFiles = try value(.openFiles, l.openFiles)
        l.processes = try value(.processes, l.processes)
        l.addressSpaceBytes = try value(.addressSpaceBytes, l.addressSpaceBytes)
        l.fileSizeBytes = try value(.fileSizeBytes, l.fileSizeBytes)
        l.cpuSeconds = try value(.cpuSeconds, l.cpuSeconds)
        l.coreBytes = try value(.coreBytes, l.coreBytes)
        self = l
    }
}

struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// A misspelt key would otherwise silently fall back to a default, which for a security policy means a weaker one.
func rejectUnknownKeys(_ decoder: any Decoder, known: [String]) throws {
    let all = try decoder.container(keyedBy: AnyCodingKey.self)
    for key in all.allKeys where !known.contains(key.stringValue) {
        throw DecodingError.dataCorruptedError(
            forKey: key,
            in: all,
            debugDescription: "unknown key '\(key.stringValue)'; expected one of: \(known.joined(separator: ", "))"
        )
    }
}
