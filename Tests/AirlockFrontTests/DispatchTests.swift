import AirlockFront
import Testing

struct DispatchTests {
    static let routes: [(arguments: [String], route: FrontEnd.Route)] = [
        (["airlock", "run", "--", "/bin/true"], .run(arguments: ["--", "/bin/true"])),
        (["airlock", "run"], .run(arguments: [])),
        (["airlock", "policy", "explain", "--policy", "p.json"], .explain(arguments: ["--policy", "p.json"])),
        (["airlock", "policy", "check", "airlock.yaml"], .core),
        (["airlock", "policy"], .core),
        (["airlock", "--version"], .version),
        (["airlock", "--version", "extra"], .core),
        (["airlock", "router", "--config", "c.yaml"], .core),
        (["airlock", "--help"], .core),
        (["airlock"], .core),
        (["airlock", "receipts", "run"], .core),
    ]

    @Test(arguments: routes)
    func routing(arguments: [String], route: FrontEnd.Route) {
        #expect(FrontEnd.route(arguments) == route)
    }

    @Test func coreIsLookedForBesideTheFrontThenInLibexec() {
        #expect(CoreExecutable.candidates(besides: "/usr/local/bin")
            == ["/usr/local/bin/airlock-core", "/usr/local/libexec/airlock/airlock-core"])
        #expect(CoreExecutable.candidates(besides: "/src/.build/debug").first == "/src/.build/debug/airlock-core")
    }
}
