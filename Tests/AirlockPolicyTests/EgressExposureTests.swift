import Testing

@testable import AirlockPolicy

/// An egress allowlist may not open the router up: `airlock policy check` refuses an entry through which the
/// proxy would connect to the router's own listeners, its operator listener or its upstreams, judged the way
/// the proxy decides (host pattern, port, deny list, resolve map, address spellings, allow_addresses).
@Suite("Egress allowlists that reach the router")
struct EgressExposureTests {
    static func config(allow: String, addresses: String = "", deny: String = "", listener: String = "127.0.0.1:8443")
        -> String
    {
        """
        version: 1
        router:
          listeners:
            - tcp: "\(listener)"
            - tcp: 127.0.0.1:9464
              role: operator
          state_directory: /var/lib/airlock
          egress:
            resolve: {mirror.test: 127.0.0.1, pkgs.test: 10.0.0.7, public.test: 93.184.216.34}
        tenants: [{name: team}]
        sandboxes:
          - name: agent
            tenant: team
            uids: [1000]
            models: ["gpt"]
            egress:
              allow: [\(allow)]
              deny: [\(deny)]
              allow_addresses: [\(addresses)]
        upstreams:
          - {name: mock, kind: openai-compatible, base_url: "http://127.0.0.1:9901"}
          - {name: openai, kind: openai, base_url: "https://api.openai.com", credential: {file: /etc/airlock/openai}}
          - {name: private, kind: openai-compatible, base_url: "https://10.0.0.7:8000"}
        models:
          - {name: gpt, api: openai, targets: [{upstream: mock}]}
        receipts: {enabled: false}
        """
    }

    static func problem(_ text: String) -> String? {
        do {
            _ = try ConfigLoader.load(text: text, path: "test.yaml")
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test(
        "refused: an entry that reaches a listener, the operator listener or an upstream, by every route the proxy takes",
        arguments: [
            // The demo's hole: a resolve entry to loopback, every port, loopback admitted.
            (
                "\"mirror.test:*\"", "127.0.0.1", "",
                "127.0.0.1:9901, the upstream \"mock\" (router.egress.resolve maps mirror.test to 127.0.0.1"
            ),
            ("\"mirror.test:*\"", "127.0.0.1", "", "127.0.0.1:8443, the router's listener router.listeners[0]"),
            ("\"mirror.test:9464\"", "127.0.0.1", "", "127.0.0.1:9464, the operator listener router.listeners[1]"),
            // A deny entry that closes one port leaves the others open.
            ("\"mirror.test:*\"", "127.0.0.1", "\"mirror.test:9901\"", "the operator listener"),
            // IP literals, in any spelling, and addresses that connect to loopback.
            ("\"127.0.0.1:9901\"", "127.0.0.1", "", "the upstream \"mock\" (the address 127.0.0.1"),
            ("\"2130706433:9901\"", "127.0.0.1", "", "the upstream \"mock\""),
            ("\"127.0.0.2:9901\"", "127.0.0.2", "", "the upstream \"mock\""),
            ("\"[::1]:8443\"", "\"::1\"", "", "router.listeners[0]"),
            ("\"[::ffff:127.0.0.1]:9901\"", "\"::ffff:127.0.0.1\"", "", "the upstream \"mock\""),
            ("\"0.0.0.0:9464\"", "0.0.0.0", "", "the operator listener"),
            ("\"[::]:8443\"", "\"::\"", "", "router.listeners[0]"),
            // Names resolved by DNS at run time may answer any address allow_addresses admits.
            ("\"localhost:9901\"", "127.0.0.1", "", "a DNS answer of 127.0.0.1, which allow_addresses admits"),
            ("\"*.pkgs.example:*\"", "127.0.0.1", "", "a DNS answer of 127.0.0.1"),
            ("\"*.pkgs.example:*\"", "10.0.0.7", "", "10.0.0.7:8000, the upstream \"private\""),
            // An upstream named by its host name, or reached through the resolve map.
            ("api.openai.com", "", "", "api.openai.com:443, the upstream \"openai\" (it names the upstream's host)"),
            ("\"*.openai.com:*\"", "", "", "the upstream \"openai\" (it names the upstream's host)"),
            (
                "\"pkgs.test:8000\"", "10.0.0.7", "",
                "the upstream \"private\" (router.egress.resolve maps pkgs.test to 10.0.0.7"
            ),
            ("\"10.0.0.7:*\"", "10.0.0.7", "", "the upstream \"private\""),
        ]
    )
    func refused(allow: String, addresses: String, deny: String, fragment: String) throws {
        let text = Self.config(allow: allow, addresses: addresses, deny: deny)
        let problem = try #require(Self.problem(text), "accepted: allow \(allow), allow_addresses [\(addresses)]")
        #expect(problem.contains("test.yaml:17:") && problem.contains("sandboxes[0].egress.allow[0]: "), "\(problem)")
        #expect(problem.contains(fragment), "\(problem)")
        #expect(
            problem.contains("Through the egress proxy the sandbox would connect as the router itself."), "\(problem)")
        let hint =
            fragment.contains("names the upstream's host")
            ? "narrow the entry so it does not match api.openai.com" : "Name the port the sandbox needs exactly"
        #expect(problem.contains(hint), "\(problem)")
    }

    @Test(
        "accepted: exact ports of other services, and entries the proxy would refuse anyway",
        arguments: [
            ("\"mirror.test:9902\"", "127.0.0.1", ""),
            ("pypi.org", "", ""),
            ("\"public.test:*\"", "", ""),
            // Loopback is refused at run time unless allow_addresses names exactly that spelling.
            ("\"mirror.test:*\"", "", ""),
            ("\"127.0.0.1:9901\"", "", ""),
            ("\"[::ffff:127.0.0.1]:9901\"", "127.0.0.1", ""),
            ("\"pkgs.test:*\"", "", ""),
            ("\"*.pkgs.example:*\"", "10.0.0.99", ""),
            ("\"mirror.test:*\"", "127.0.0.1", "\"mirror.test:*\""),
            ("\"*.pkgs.example:*\"", "127.0.0.1", "\"*.pkgs.example:*\""),
        ]
    )
    func accepted(allow: String, addresses: String, deny: String) {
        let problem = Self.problem(Self.config(allow: allow, addresses: addresses, deny: deny))
        #expect(problem == nil, "\(problem ?? "")")
    }

    @Test("one issue per entry names every endpoint it reaches and the ports to avoid")
    func message() throws {
        let problem = try #require(Self.problem(Self.config(allow: "\"mirror.test:*\"", addresses: "127.0.0.1")))
        #expect(
            problem.contains("\"mirror.test:*\" reaches 127.0.0.1:8443, the router's listener router.listeners[0]"),
            "\(problem)")
        #expect(problem.contains("keep it off ports 8443, 9464, 9901"), "\(problem)")
        #expect(problem.split(separator: "sandboxes[0].egress.allow[0]").count == 2, "\(problem)")
    }

    @Test(
        "a listener on a port the kernel picks is reached by an entry for any port on its address, not by an exact port"
    )
    func kernelPickedPort() throws {
        let wildcard = try #require(
            Self.problem(Self.config(allow: "\"mirror.test:*\"", addresses: "127.0.0.1", listener: "127.0.0.1:0"))
        )
        #expect(
            wildcard.contains("127.0.0.1 (on the port the kernel picks), the router's listener router.listeners[0]"),
            "\(wildcard)")
        #expect(
            Self.problem(Self.config(allow: "\"mirror.test:9902\"", addresses: "127.0.0.1", listener: "127.0.0.1:0"))
                == nil)
    }

    @Test("how a connection to an address lands: mapped IPv6 is IPv4, the unspecified addresses are loopback")
    func connectedAddress() throws {
        let parse = { (text: String) in IPAddress.parse(text)! }
        #expect(parse("::ffff:10.0.0.7").connectedAddress == parse("10.0.0.7"))
        #expect(parse("0.0.0.0").isLoopbackDestination && parse("::").isLoopbackDestination)
        #expect(parse("::ffff:0.0.0.0").isLoopbackDestination && parse("127.9.9.9").isLoopbackDestination)
        #expect(!parse("10.0.0.7").isLoopbackDestination && !parse("::2").isLoopbackDestination)
        #expect(parse("127.0.0.2").reaches(parse("::1")) && !parse("10.0.0.8").reaches(parse("10.0.0.7")))
    }
}
