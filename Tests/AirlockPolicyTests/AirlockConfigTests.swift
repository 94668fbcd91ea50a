import Foundation
import Testing

@testable import AirlockPolicy

/// The router's own configuration: the shipped examples load, and every rule the types cannot express is
/// refused with the key path, the location and what to do.
@Suite("Airlock configuration")
struct AirlockConfigTests {
    static let valid = """
        version: 1
        router:
          listeners:
            - tcp: 127.0.0.1:8443
          state_directory: /var/lib/airlock
        tenants:
          - name: team
        sandboxes:
          - name: agent
            tenant: team
            uids: [1000]
            models: ["gpt"]
        upstreams:
          - name: openai
            kind: openai
            base_url: https://api.openai.com
            credential: {file: /etc/airlock/openai}
        models:
          - name: gpt
            api: openai
            targets: [{upstream: openai}]
        receipts:
          directory: /var/lib/airlock/receipts
          origin: airlock.test/receipts
          signing_keys: [/etc/airlock/receipts.key]
        """

    func load(_ text: String) throws -> LoadedConfig {
        try ConfigLoader.load(text: text, path: "test.yaml")
    }

    @Test("the minimal file loads with the documented defaults")
    func defaults() throws {
        let c = try load(Self.valid).config
        #expect(c.router.limits.maxBodyBytes == 1 << 20)
        #expect(c.router.limits.rate == RateSettings(rps: 500, burst: 1000))
        #expect(c.sandboxes[0].rate == RateSettings(rps: 50, burst: 100))
        #expect(c.retry == RetrySettings(attempts: 3, base: .milliseconds(250), cap: .seconds(8), maxRetryAfter: .seconds(30)))
        #expect(c.router.allowRoot == false)
        #expect(c.receipts.enabled && c.receipts.durability == .sync)
    }

    @Test("the shipped policies load", arguments: ["policies/airlock.yaml", "policies/demo.yaml"])
    func shipped(path: String) throws {
        let root = #filePath.components(separatedBy: "/Tests/")[0]
        _ = try ConfigLoader.load(path: root + "/" + path)
    }

    @Test("refuses listening anywhere but loopback", arguments: [
        "0.0.0.0:8443", "[::]:8443", "192.168.1.10:8443", "10.0.0.1:8443", "localhost:8443", "[fe80::1]:8443",
        "8.8.8.8:53",
    ])
    func nonLoopback(address: String) {
        let text = Self.valid.replacingOccurrences(of: "tcp: 127.0.0.1:8443", with: "tcp: \"\(address)\"")
        #expect {
            try load(text)
        } throws: { error in
            let message = "\(error)"
            return message.contains("test.yaml:4:") && message.contains("router.listeners[0].tcp") && message.contains("loopback")
        }
    }

    @Test("accepts every loopback spelling", arguments: ["127.0.0.1:8443", "127.1.2.3:9000", "[::1]:8443"])
    func loopback(address: String) throws {
        _ = try load(Self.valid.replacingOccurrences(of: "tcp: 127.0.0.1:8443", with: "tcp: \"\(address)\""))
    }

    @Test("refuses semantic errors with the key path and a hint", arguments: [
        ("version: 1", "version: 2", "version"),
        ("tenant: team\n    uids", "tenant: nobody\n    uids", "sandboxes[0].tenant"),
        ("models: [\"gpt\"]", "models: [\"gpt-9\"]", "sandboxes[0].models[0]"),
        ("targets: [{upstream: openai}]", "targets: [{upstream: missing}]", "models[0].targets[0].upstream"),
        ("targets: [{upstream: openai}]", "targets: []", "models[0].targets"),
        ("api: openai", "api: anthropic", "models[0].targets[0].upstream"),
        ("base_url: https://api.openai.com", "base_url: http://api.openai.com", "upstreams[0].base_url"),
        ("base_url: https://api.openai.com", "base_url: https://user@api.openai.com", "upstreams[0].base_url"),
        ("base_url: https://api.openai.com", "base_url: ftp://api.openai.com", "upstreams[0].base_url"),
        ("    credential: {file: /etc/airlock/openai}\n", "", "upstreams[0].credential"),
        ("credential: {file: /etc/airlock/openai}", "credential: {file: relative/key}", "upstreams[0].credential.file"),
        ("state_directory: /var/lib/airlock", "state_directory: var/lib", "router.state_directory"),
        ("uids: [1000]", "uids: [1000]\n    max_concurrent: 0", "sandboxes[0].max_concurrent"),
        ("uids: [1000]", "uids: [1000]\n    rate: {rps: 0, burst: 1}", "sandboxes[0].rate.rps"),
        ("- name: agent", "- name: Agent!", "sandboxes[0].name"),
        ("state_directory: /var/lib/airlock", "state_directory: /var/lib/airlock\n  limits: {max_body_bytes: 0}", "router.limits.max_body_bytes"),
        ("state_directory: /var/lib/airlock", "state_directory: /var/lib/airlock\n  drain_timeout: 1h", "router.drain_timeout"),
        ("origin: airlock.test/receipts", "origin: \"has space\"", "receipts.origin"),
        ("signing_keys: [/etc/airlock/receipts.key]", "signing_keys: []", "receipts.signing_keys"),
        ("directory: /var/lib/airlock/receipts", "directory: receipts", "receipts.directory"),
        ("signing_keys: [/etc/airlock/receipts.key]", "signing_keys: [/etc/airlock/receipts.key]\n  witnesses: [{url: \"https://127.0.0.1:7380\", key: w+00000000+BA}]", "receipts.witnesses[0].url"),
        ("signing_keys: [/etc/airlock/receipts.key]", "signing_keys: [/etc/airlock/receipts.key]\n  witnesses: [{url: \"http://127.0.0.1\", key: w+00000000+BA}]", "receipts.witnesses[0].url"),
        ("signing_keys: [/etc/airlock/receipts.key]", "signing_keys: [/etc/airlock/receipts.key]\n  witnesses: [{url: \"http://127.0.0.1:7380\", key: witness}]", "receipts.witnesses[0].key"),
        // A `10m` typo for retry.base once built an invalid range (cap from base to 300 s) and trapped.
        ("version: 1", "version: 1\nretry: {base: 10m}", "retry.base"),
        ("version: 1", "version: 1\nretry: {base: 10m, cap: 1h}", "retry.cap"),
        ("version: 1", "version: 1\nretry: {base: 2s, cap: 1s}", "retry.cap"),
        ("state_directory: /var/lib/airlock", "state_directory: /var/lib/airlock\n  limits: {max_connections_per_peer: 0}", "router.limits.max_connections_per_peer"),
        ("state_directory: /var/lib/airlock", "state_directory: /var/lib/airlock\n  limits: {unknown_peer_rate: {rps: 0, burst: 1}}", "router.limits.unknown_peer_rate.rps"),
        // The operator listener's `uids`: only there, not empty, never an agent's UID.
        ("- tcp: 127.0.0.1:8443\n", "- tcp: 127.0.0.1:8443\n      uids: [0]\n", "router.listeners[0].uids"),
        ("- tcp: 127.0.0.1:8443\n", "- tcp: 127.0.0.1:8443\n    - tcp: 127.0.0.1:9464\n      role: operator\n      uids: []\n", "router.listeners[1].uids"),
        ("- tcp: 127.0.0.1:8443\n", "- tcp: 127.0.0.1:8443\n    - tcp: 127.0.0.1:9464\n      role: operator\n      uids: [0, 1000]\n", "router.listeners[1].uids[1]"),
    ])
    func semantic(find: String, replace: String, path: String) {
        let text = Self.valid.replacingOccurrences(of: find, with: replace)
        #expect(text != Self.valid)
        #expect {
            try load(text)
        } throws: { error in
            "\(error)".contains(path)
        }
    }

    @Test("refuses a UID claimed by two sandboxes and a world-connectable socket")
    func conflicts() {
        let duplicate = Self.valid.replacingOccurrences(
            of: "    models: [\"gpt\"]\n",
            with: "    models: [\"gpt\"]\n  - name: other\n    tenant: team\n    uids: [1000]\n    models: [\"gpt\"]\n"
        )
        #expect { try load(duplicate) } throws: { "\($0)".contains("sandboxes[1].uids[0]") && "\($0)".contains("already sandbox") }
        let open = Self.valid.replacingOccurrences(
            of: "    - tcp: 127.0.0.1:8443\n",
            with: "    - tcp: 127.0.0.1:8443\n    - unix: /run/airlock.sock\n      mode: \"0666\"\n"
        )
        #expect { try load(open) } throws: { "\($0)".contains("router.listeners[1].mode") }
    }

    @Test("the operator listener names the UIDs it answers; limits on connections per peer and unknown peers load")
    func operatorUIDsAndPeerLimits() throws {
        let text = Self.valid.replacingOccurrences(
            of: "    - tcp: 127.0.0.1:8443\n",
            with: "    - tcp: 127.0.0.1:8443\n    - tcp: 127.0.0.1:9464\n      role: operator\n      uids: [0, 65534]\n  limits: {max_connections_per_peer: 64, unknown_peer_rate: {rps: 1, burst: 2}}\n"
        )
        let config = try load(text).config
        #expect(config.router.listeners[1].uids == [0, 65534])
        #expect(config.router.listeners[0].uids == nil)
        #expect(config.router.limits.maxConnectionsPerPeer == 64)
        #expect(config.router.limits.unknownPeerRate == RateSettings(rps: 1, burst: 2))
    }

    @Test("a listener entry must be exactly one kind, and an fd listener names a known sandbox")
    func listenerKinds() {
        let both = Self.valid.replacingOccurrences(of: "    - tcp: 127.0.0.1:8443\n", with: "    - tcp: 127.0.0.1:8443\n      unix: /run/a.sock\n")
        #expect { try load(both) } throws: { "\($0)".contains("exactly one of") }
        let fd = Self.valid.replacingOccurrences(of: "    - tcp: 127.0.0.1:8443\n", with: "    - fd: 3\n      sandbox: ghost\n")
        #expect { try load(fd) } throws: { "\($0)".contains("router.listeners[0].sandbox") && "\($0)".contains("ghost") }
        let stdin = Self.valid.replacingOccurrences(of: "    - tcp: 127.0.0.1:8443\n", with: "    - fd: 0\n      sandbox: agent\n")
        #expect { try load(stdin) } throws: { "\($0)".contains("router.listeners[0].fd") }
    }

    @Test("a file without a receipts section is refused: turning receipts off must be explicit")
    func receiptsRequired() throws {
        let without = Self.valid.components(separatedBy: "receipts:\n")[0]
        #expect { try load(without) } throws: { "\($0)".contains("receipts") }
        _ = try load(without + "receipts: {enabled: false}\n")
    }

    @Test("unknown keys anywhere are errors with a suggestion")
    func unknownKey() {
        let typo = Self.valid.replacingOccurrences(of: "    uids: [1000]", with: "    uid: [1000]")
        #expect { try load(typo) } throws: { "\($0)".contains("test.yaml:11:5") && "\($0)".contains("uids") }
    }
}
