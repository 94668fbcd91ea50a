import AirlockSandbox
import Foundation
import Testing

struct SandboxPolicyTests {
    @Test func missingKeysKeepSafeDefaults() throws {
        let policy = try SandboxPolicy.decode(Array(#"{"uid": 1234}"#.utf8))
        #expect(policy.uid == 1234)
        #expect(policy.limits.coreBytes == 0)
        #expect(policy.landlock == .required)
        #expect(policy.routerPorts == [8443, 3128])
    }

    @Test func misspeltKeyIsAnError() throws {
        let path = "/tmp/airlock-policy-\(getpid()).json"
        try #"{"limits": {"proceses": 10}}"#.write(toFile: path, atomically: false, encoding: .utf8)
        defer { unlink(path) }
        do {
            _ = try SandboxPolicy.load(path: path)
            Issue.record("accepted a misspelt key")
        } catch let error as PolicyFileError {
            #expect(error.description.contains("unknown key 'proceses'"), "\(error)")
            #expect(error.description.hasPrefix(path))
        }
    }

    @Test func exitStatusDecoding() {
        #expect(SandboxExit(waitStatus: 7 << 8) == .exited(7))
        #expect(SandboxExit(waitStatus: 15) == .signaled(15))
        #expect(SandboxExit.signaled(9).shellStatus == 137)
    }
}
