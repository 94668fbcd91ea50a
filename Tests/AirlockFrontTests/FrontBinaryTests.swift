import AirlockFront
import AirlockTestSupport
import Foundation
import Glibc
import Testing

/// The built `airlock` front: statically linked without Foundation or SwiftNIO, and everything it does not handle
/// itself reaches `airlock-core` with the same arguments.
@Suite(.serialized)
struct FrontBinaryTests {
    static var productsDirectory: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var url = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("airlock").path) { return url.path }
            url = url.deletingLastPathComponent()
        }
        return ""
    }

    static var front: String { "\(productsDirectory)/airlock" }

    func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = readToEnd(out.fileHandleForReading)
        let e = readToEnd(err.fileHandleForReading)
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test func versionIsAnsweredByTheFront() throws {
        let result = try run(Self.front, ["--version"])
        #expect(result.status == 0)
        #expect(result.out == "0.1.0\n")
    }

    @Test func otherSubcommandsReachTheCore() throws {
        let help = try run(Self.front, ["--help"])
        #expect(help.status == 0, "\(help.err)")
        for command in ["router", "run", "receipts", "policy", "health", "egress-guard"] {
            #expect(help.out.contains(command), "\(command) missing from:\n\(help.out)")
        }
        // The core sees argv[0] as given to the front, so its messages name `airlock`.
        #expect(help.out.contains("USAGE: airlock "), "\(help.out)")
        let check = try run(Self.front, ["policy", "check", "/nonexistent/airlock.yaml"])
        #expect(check.status == 1)
        #expect(check.err.contains("/nonexistent/airlock.yaml"), "\(check.err)")
    }

    @Test func runUsageErrorsExit64() throws {
        let result = try run(Self.front, ["run", "--frobnicate"])
        #expect(result.status == 64)
        #expect(result.err.contains("unknown option '--frobnicate'"))
        let help = try run(Self.front, ["run", "--help"])
        #expect(help.status == 0 && help.out.contains("USAGE: airlock run"))
    }

    @Test func explainWorksWithoutTheCore() throws {
        let directory = NSTemporaryDirectory() + "airlock-front-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let lone = "\(directory)/airlock"
        try FileManager.default.copyItem(atPath: Self.front, toPath: lone)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let profile = "\(root)/policies/seccomp/agent-strict.json"
        let policy = "\(directory)/policy.json"
        try "{\"seccompProfile\": \"\(profile)\", \"landlock\": \"best-effort\"}".write(toFile: policy, atomically: false, encoding: .utf8)
        let explained = try run(lone, ["policy", "explain", "--policy", policy, "--workdir", directory])
        #expect(explained.status == 0, "\(explained.err)")
        #expect(explained.out.contains("seccomp: ") && explained.out.contains("landlock: kernel ABI"))
        let missing = try run(lone, ["router", "--help"])
        #expect(missing.status == 127)
        #expect(missing.err.contains("cannot find airlock-core; looked for \(directory)/airlock-core and "), "\(missing.err)")
    }

    @Test func frontIsStaticAndLinksNoFoundationOrNIO() throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Self.front))
        // ELF64: program headers at e_phoff, e_phnum entries of e_phentsize bytes; PT_INTERP (3) names ld.so.
        let phoff = bytes.subdata(in: 32..<40).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        let phentsize = bytes.subdata(in: 54..<56).withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) }
        let phnum = bytes.subdata(in: 56..<58).withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) }
        let types = (0..<Int(phnum)).map { i in
            let at = Int(phoff) + i * Int(phentsize)
            return bytes.subdata(in: at..<at + 4).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        }
        #expect(!types.contains(3), "the front has a PT_INTERP: it is dynamically linked")
        // Mangled Swift symbols name their module: $s10Foundation…, $s7NIOCore…, $s14ArgumentParser….
        for module in ["10Foundation", "19FoundationEssentials", "7NIOCore", "8NIOPosix", "14ArgumentParser", "4Yams"] {
            #expect(bytes.range(of: Data("$s\(module)".utf8)) == nil, "the front contains \(module) symbols")
        }
    }
}
