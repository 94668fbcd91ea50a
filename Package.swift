// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

// A GNU build-id lets the launcher tell its own compiled seccomp programs from those of another build.
let buildID: [LinkerSetting] = [.unsafeFlags(["-Xlinker", "--build-id=sha1"], .when(platforms: [.linux]))]

// The front is linked fully static: no dynamic loader, no libstdc++/libm/libgcc_s/libseccomp to map and bind, which
// saves about a millisecond of every `airlock run` (docs/threat-model.md, "Launcher binary", for the trade-off).
// It cannot be static-pie: SwiftPM links executables with an rpath, and glibc's static-pie start-up refuses one.
let staticFront: [LinkerSetting] = [.unsafeFlags(["-static-executable"], .when(platforms: [.linux]))] + buildID

let package = Package(
    name: "Airlock",
    platforms: [.macOS(.v15)],
    products: [
        // `airlock` is the small front (sandbox launcher, `policy explain`) that execs `airlock-core` for the rest.
        .executable(name: "airlock", targets: ["airlock"]),
        .executable(name: "airlock-core", targets: ["airlock-core"]),
        .executable(name: "airlock-receipts-bench", targets: ["airlock-receipts-bench"]),
        .executable(name: "airlock-escape", targets: ["airlock-escape"]),
        .library(name: "AirlockPolicy", targets: ["AirlockPolicy"]),
        .library(name: "AirlockReceipts", targets: ["AirlockReceipts"]),
        .library(name: "AirlockRouter", targets: ["AirlockRouter"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // HTTP/2 from the agent on inspected egress hosts (AsyncHTTPClient depends on it already).
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-otel/swift-w3c-trace-context.git", from: "1.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
    ],
    targets: [
        // Linux-only helpers that must be C: SO_PEERCRED, NETLINK_SOCK_DIAG, SCM_RIGHTS.
        .target(name: "CAirlockLinux", cSettings: [.define("_GNU_SOURCE")]),
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        // Everything that runs between fork and execve lives here: Swift must not run in that window.
        .target(name: "CAirlockSandbox", dependencies: ["CAirlockLinux"], cSettings: [.define("_GNU_SOURCE")]),
        // The project's one JSON reader (request bodies, sandbox policies, seccomp profiles, receipt records). On the
        // launcher's path, so no dependencies at all: no Foundation, no SwiftNIO.
        .target(name: "AirlockJSON", swiftSettings: swiftSettings),
        // Reads JSON documents and prints each verdict and decoded value, for the differential fuzzer in
        // tests/python/test_json_fuzz.py; not a product.
        .executableTarget(name: "airlock-json-probe", dependencies: ["AirlockJSON"], swiftSettings: swiftSettings),
        // The launcher's path: no Foundation, no SwiftNIO, no ArgumentParser (each costs start-up time).
        .target(
            name: "AirlockSandbox",
            dependencies: ["AirlockJSON", "CSeccomp", "CAirlockSandbox"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AirlockFront",
            dependencies: ["AirlockJSON", "AirlockSandbox", "CAirlockLinux"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "airlock",
            dependencies: ["AirlockFront"],
            swiftSettings: swiftSettings,
            linkerSettings: staticFront
        ),
        // Runs inside the sandbox and tries to get out; C so every escape is the exact syscall.
        // Runs inside the sandbox, whose view has /usr but not the toolchain: the Swift runtime SwiftPM links into
        // every executable goes in statically.
        .executableTarget(name: "airlock-escape", cSettings: [.define("_GNU_SOURCE")],
                          linkerSettings: [.unsafeFlags(["-static-stdlib"], .when(platforms: [.linux]))]),
        .target(
            name: "AirlockPolicy",
            dependencies: [.product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AirlockReceipts",
            dependencies: ["AirlockJSON", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "airlock-receipts-writer",
            dependencies: ["AirlockReceipts"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "airlock-receipts-bench",
            dependencies: ["AirlockReceipts"],
            path: "bench/receipts/Sources",
            swiftSettings: swiftSettings
        ),
        // Reservations plus settlements per second on the shared PostgreSQL ledger and the journal (bench/ledger).
        .executableTarget(
            name: "airlock-ledger-bench",
            dependencies: ["AirlockPolicy", "AirlockRouter", .product(name: "Logging", package: "swift-log")],
            path: "bench/ledger/Sources",
            swiftSettings: swiftSettings
        ),
        // CAirlockLinux: pipe2(O_CLOEXEC) for the command runner.
        .target(name: "AirlockEgressGuard", dependencies: ["CAirlockLinux"], swiftSettings: swiftSettings),
        // Tries one socket operation and prints the exact errno: the egress guard's tests run it as other UIDs.
        .executableTarget(name: "airlock-netprobe", swiftSettings: swiftSettings),
        .target(
            name: "AirlockMockUpstream",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AirlockRouter",
            dependencies: [
                "AirlockJSON",
                "AirlockPolicy",
                "AirlockReceipts",
                "CAirlockLinux",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "W3CTraceContext", package: "swift-w3c-trace-context"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "airlock-core",
            dependencies: [
                "AirlockFront",
                "AirlockPolicy",
                "AirlockReceipts",
                "AirlockRouter",
                "AirlockMockUpstream",
                "AirlockSandbox",
                "AirlockEgressGuard",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings,
            linkerSettings: buildID
        ),
        .testTarget(name: "AirlockJSONTests", dependencies: ["AirlockJSON"], swiftSettings: swiftSettings),
        .target(name: "AirlockTestSupport", dependencies: ["CAirlockLinux"], path: "Tests/AirlockTestSupport", swiftSettings: swiftSettings),
        .testTarget(
            name: "AirlockSandboxTests",
            dependencies: ["AirlockJSON", "AirlockSandbox", "AirlockTestSupport", "CAirlockSandbox", "airlock-escape"],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        // No dependency on the `airlock` and `airlock-core` targets: an executable target's linker settings would
        // apply to the test bundle (the front's -static-executable). `swift build --build-tests` builds both.
        .testTarget(
            name: "AirlockFrontTests",
            dependencies: ["AirlockFront", "AirlockTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AirlockEgressGuardTests",
            dependencies: ["AirlockEgressGuard", "airlock-core", "airlock-netprobe"],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "AirlockPolicyTests", dependencies: ["AirlockPolicy"], swiftSettings: swiftSettings),
        .testTarget(
            name: "AirlockReceiptsTests",
            dependencies: ["AirlockJSON", "AirlockReceipts", "AirlockTestSupport", "airlock-receipts-writer"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AirlockMockUpstreamTests",
            dependencies: [
                "AirlockMockUpstream",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AirlockRouterTests",
            dependencies: [
                "AirlockJSON",
                "AirlockRouter",
                // The control-socket tests speak through `airlock run`'s own client, ControlSocketRegistrar.
                "AirlockFront",
                "AirlockPolicy",
                "AirlockMockUpstream",
                "AirlockTestSupport",
                "CAirlockLinux",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AirlockEndToEndTests",
            dependencies: [
                "AirlockPolicy",
                "AirlockReceipts",
                "AirlockMockUpstream",
                "AirlockTestSupport",
                "CAirlockLinux",
                .product(name: "NIOCore", package: "swift-nio"),
                // The shared-ledger test reads the database over one connection (no psql process per poll).
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
