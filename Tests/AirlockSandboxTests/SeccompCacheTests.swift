@testable import AirlockSandbox
import Foundation
import Glibc
import Testing

/// The compiled-program cache is trusted with the worker's seccomp filter: these tests try to make it load a
/// program that is not the profile's.
@Suite(.serialized)
struct SeccompCacheTests {
    struct Fixture {
        let directory: String
        let cache: SeccompCache
        let profile: [UInt8]
        let key: [UInt8]
        let program: SeccompProgram

        var entry: String { "\(directory)/\(cache.fileName(key))" }
    }

    func fixture() throws -> Fixture {
        let base = try TestSupport.makeDirectory(owner: geteuid())
        chmod(base, 0o755)
        let directory = "\(base)/seccomp"
        let profile = Array(try String(contentsOfFile: TestSupport.agentStrictProfile, encoding: .utf8).utf8)
        let program = try SeccompCompiler().compile(try OCISeccompProfile.decode(profile))
        return Fixture(directory: directory, cache: SeccompCache(directory: directory), profile: profile,
                       key: SeccompCache.key(profile: profile), program: program)
    }

    func remove(_ f: Fixture) {
        try? FileManager.default.removeItem(atPath: String(f.directory.dropLast("/seccomp".count)))
    }

    func expectRefused(_ lookup: SeccompCache.Lookup, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard case .refused(let why) = lookup else {
            Issue.record("expected a refusal mentioning '\(fragment)', got \(lookup)", sourceLocation: sourceLocation)
            return
        }
        #expect(why.contains(fragment), "\(why)", sourceLocation: sourceLocation)
    }

    @Test func sha256MatchesFIPS180Vectors() {
        #expect(Hex.encode(SeccompCache.sha256([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Hex.encode(SeccompCache.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let twoBlocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        #expect(Hex.encode(SeccompCache.sha256(Array(twoBlocks.utf8))) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(Hex.encode(SeccompCache.sha256([UInt8](repeating: 0x61, count: 1_000_000))) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func storedProgramComesBackUnchanged() throws {
        let f = try fixture()
        defer { remove(f) }
        guard case .miss = f.cache.load(key: f.key) else { Issue.record("an empty cache should miss"); return }
        try f.cache.store(f.program, key: f.key)
        guard case .hit(let loaded) = f.cache.load(key: f.key) else { Issue.record("no hit after store"); return }
        #expect(loaded.filter == f.program.filter)
        #expect(loaded.flags == f.program.flags)
        var st = stat()
        #expect(stat(f.directory, &st) == 0 && st.st_mode & 0o777 == 0o700, "the directory is created 0700")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: f.directory).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "temporary files left behind: \(leftovers)")
    }

    @Test func keyCoversTheProfileAndTheMachine() {
        let profile = Array(#"{"defaultAction": "SCMP_ACT_ALLOW"}"#.utf8)
        var other = SeccompCompiler.Target()
        other.kernelRelease = "4.19.0"
        #expect(SeccompCache.key(profile: profile) == SeccompCache.key(profile: profile))
        #expect(SeccompCache.key(profile: profile) != SeccompCache.key(profile: profile + [0x20]))
        #expect(SeccompCache.key(profile: profile) != SeccompCache.key(profile: profile, target: other))
    }

    @Test func tamperedProgramIsRefused() throws {
        let f = try fixture()
        defer { remove(f) }
        try f.cache.store(f.program, key: f.key)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: f.entry)))
        // Turn the first instruction that returns ERRNO into one that returns ALLOW, as an attacker would.
        bytes[bytes.count - 4] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: f.entry))
        expectRefused(f.cache.load(key: f.key), "does not hold the program for its name")
        // The filter flags (SECCOMP_FILTER_FLAG_*) are covered too.
        bytes[bytes.count - 4] ^= 0x01
        bytes[20] ^= 0x02
        try Data(bytes).write(to: URL(fileURLWithPath: f.entry))
        expectRefused(f.cache.load(key: f.key), "does not hold the program for its name")
        bytes[20] ^= 0x02
        // Cut short, as after a crash.
        try Data(bytes.prefix(bytes.count - 8)).write(to: URL(fileURLWithPath: f.entry))
        expectRefused(f.cache.load(key: f.key), "does not hold the program for its name")
    }

    @Test func entryForAnotherProfileIsRefused() throws {
        let f = try fixture()
        defer { remove(f) }
        let permissive = Array(#"{"defaultAction": "SCMP_ACT_ALLOW"}"#.utf8)
        let allowAll = try SeccompCompiler().compile(try OCISeccompProfile.decode(permissive))
        let otherKey = SeccompCache.key(profile: permissive)
        try f.cache.store(allowAll, key: otherKey)
        // A valid, root-written entry renamed to the strict profile's name.
        #expect(rename("\(f.directory)/\(f.cache.fileName(otherKey))", f.entry) == 0)
        expectRefused(f.cache.load(key: f.key), "does not hold the program for its name")
    }

    @Test(.enabled(if: TestSupport.isRoot, TestSupport.rootReason))
    func foreignOwnedEntryIsRefused() throws {
        let f = try fixture()
        defer { remove(f) }
        try f.cache.store(f.program, key: f.key)
        chown(f.entry, 1000, 1000)
        expectRefused(f.cache.load(key: f.key), "belongs to uid 1000, not to root")
    }

    @Test(.enabled(if: TestSupport.isRoot, TestSupport.rootReason))
    func foreignOwnedDirectoryIsRefusedAndNotWritten() throws {
        let f = try fixture()
        defer { remove(f) }
        try f.cache.store(f.program, key: f.key)
        chown(f.directory, 1000, 1000)
        expectRefused(f.cache.load(key: f.key),
                      "belongs to uid 1000, not to root; chown it to root, or pass --no-seccomp-cache")
        #expect(throws: SystemError.self) { try f.cache.store(f.program, key: f.key) }
    }

    @Test func groupOrOtherWritableIsRefused() throws {
        let f = try fixture()
        defer { remove(f) }
        try f.cache.store(f.program, key: f.key)
        chmod(f.entry, 0o664)
        expectRefused(f.cache.load(key: f.key), "writable by its group or others (mode 664)")
        chmod(f.entry, 0o644)
        chmod(f.directory, 0o777)
        expectRefused(f.cache.load(key: f.key),
                      "writable by its group or others (mode 777); chmod go-w it, or pass --no-seccomp-cache")
        #expect(throws: SystemError.self) { try f.cache.store(f.program, key: f.key) }
    }

    @Test func symlinksAreNotFollowed() throws {
        let f = try fixture()
        defer { remove(f) }
        try f.cache.store(f.program, key: f.key)
        let real = f.entry + ".real"
        #expect(rename(f.entry, real) == 0)
        #expect(symlink(real, f.entry) == 0)
        expectRefused(f.cache.load(key: f.key), "ELOOP")
        let moved = f.directory + ".real"
        #expect(unlink(f.entry) == 0 && rename(real, f.entry) == 0 && rename(f.directory, moved) == 0)
        #expect(symlink(moved, f.directory) == 0)
        expectRefused(f.cache.load(key: f.key), "ENOTDIR")
    }

    @Test func launcherCompilesAndSaysSoWhenTheCacheIsRefused() throws {
        let f = try fixture()
        defer { remove(f) }
        let workdir = try TestSupport.makeDirectory(owner: geteuid())
        defer { try? FileManager.default.removeItem(atPath: workdir) }
        var policy = TestSupport.policy(workdir: workdir)
        policy.landlock = .bestEffort
        let options = SandboxLauncher.Options(seccompCache: f.cache)
        let first = try SandboxLauncher(policy: policy, options: options)
        #expect(first.seccomp?.summary != nil, "a miss compiles")
        #expect(first.seccompCacheProblem == nil)
        let second = try SandboxLauncher(policy: policy, options: options)
        #expect(second.seccomp?.summary == nil, "a hit skips the compiler")
        #expect(second.seccomp?.filter == first.seccomp?.filter)
        chmod(f.entry, 0o666)
        let third = try SandboxLauncher(policy: policy, options: options)
        #expect(third.seccomp?.filter == first.seccomp?.filter)
        #expect(third.seccomp?.summary != nil, "a refused entry is compiled instead")
        #expect(third.warnings.contains { $0.hasPrefix("seccomp cache: ") && $0.hasSuffix("compiled the profile instead") })
    }
}
