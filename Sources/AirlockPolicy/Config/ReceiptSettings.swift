/// The receipt log: where it lives, what it calls itself, who signs its checkpoints, how durable appends are.
public struct ReceiptSettings: Decodable, Sendable, Equatable {
    public enum DurabilityMode: String, ConfigEnum {
        /// An append returns once the record is on disk (fdatasync); the default.
        case sync
        /// Appends are synced at most `batch_delay` later; a crash can lose that window.
        case batched
    }

    /// false turns receipts off, which must be said explicitly (benchmarks); every request is then unrecorded.
    public var enabled: Bool
    public var directory: String
    /// The log's identity in checkpoints, e.g. `airlock.example.com/prod-1`.
    public var origin: String
    /// Private key files made by `airlock receipts keygen`; every checkpoint is signed by each.
    public var signingKeys: [String]
    /// Verifier keys of earlier signing keys, accepted for the last checkpoint after a rotation.
    public var previousKeys: [String]
    public var durability: DurabilityMode
    public var batchDelay: ConfigDuration
    public var checkpointEvery: Int
    public var checkpointInterval: ConfigDuration
    /// Witnesses each new checkpoint is submitted to; their cosignatures are added to the stored checkpoint.
    public var witnesses: [WitnessSettings]

    /// One witness (c2sp.org/tlog-witness) the router submits its checkpoints to.
    public struct WitnessSettings: Decodable, Sendable, Equatable {
        /// The witness's submission prefix, `http://host:port[/path]`; `/add-checkpoint` is appended.
        public var url: String
        /// The witness key (`name+keyid+base64`, from `airlock witness keygen`): only its cosignatures are kept.
        public var key: String

        public init(url: String, key: String) {
            self.url = url
            self.key = key
        }
    }

    enum CodingKeys: String, CodingKey {
        case enabled, directory, origin, durability
        case signingKeys = "signing_keys"
        case previousKeys = "previous_keys"
        case batchDelay = "batch_delay"
        case checkpointEvery = "checkpoint_every"
        case checkpointInterval = "checkpoint_interval"
        case witnesses
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        if enabled {
            directory = try c.decode(String.self, forKey: .directory)
            origin = try c.decode(String.self, forKey: .origin)
            signingKeys = try c.decode([String].self, forKey: .signingKeys)
        } else {
            directory = try c.decodeIfPresent(String.self, forKey: .directory) ?? ""
            origin = try c.decodeIfPresent(String.self, forKey: .origin) ?? ""
            signingKeys = try c.decodeIfPresent([String].self, forKey: .signingKeys) ?? []
        }
        previousKeys = try c.decodeIfPresent([String].self, forKey: .previousKeys) ?? []
        durability = try c.decodeIfPresent(DurabilityMode.self, forKey: .durability) ?? .sync
        batchDelay = try c.decodeIfPresent(ConfigDuration.self, forKey: .batchDelay) ?? .milliseconds(2)
        checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery) ?? 10_000
        checkpointInterval = try c.decodeIfPresent(ConfigDuration.self, forKey: .checkpointInterval) ?? .seconds(10)
        witnesses = try c.decodeIfPresent([WitnessSettings].self, forKey: .witnesses) ?? []
    }

    public init(
        enabled: Bool = true,
        directory: String,
        origin: String,
        signingKeys: [String],
        previousKeys: [String] = [],
        durability: DurabilityMode = .sync,
        batchDelay: ConfigDuration = .milliseconds(2),
        checkpointEvery: Int = 10_000,
        checkpointInterval: ConfigDuration = .seconds(10),
        witnesses: [WitnessSettings] = []
    ) {
        self.enabled = enabled
        self.directory = directory
        self.origin = origin
        self.signingKeys = signingKeys
        self.previousKeys = previousKeys
        self.durability = durability
        self.batchDelay = batchDelay
        self.checkpointEvery = checkpointEvery
        self.checkpointInterval = checkpointInterval
        self.witnesses = witnesses
    }

    /// Receipts off.
    public static let disabled = ReceiptSettings(enabled: false, directory: "", origin: "", signingKeys: [])
}
