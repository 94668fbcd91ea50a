import AirlockJSON
import AirlockSandbox
import Foundation
import Testing

/// Policies and profiles read through AirlockJSON: errors name the value's path, line and column.
struct PolicyJSONTests {
    static let badPolicies: [(json: String, expected: String)] = [
        (#"{"limits": {"proceses": 10}}"#, "at limits.proceses (line 1, column 13): unknown key 'proceses'; expected one of: openFiles"),
        (#"{"uid": "1000"}"#, "at uid (line 1, column 9): expected an unsigned integer of 32 bits, found a string"),
        (#"{"uid": -1}"#, "at uid (line 1, column 9): -1 is out of range for an unsigned integer of 32 bits"),
        (#"{"uid": 1.5}"#, "at uid (line 1, column 9): expected an unsigned integer of 32 bits, found 1.5"),
        (#"{"routerPorts": [8443, 70000]}"#, "at routerPorts[1] (line 1, column 24): 70000 is out of range"),
        (#"{"landlock": "sometimes"}"#, "at landlock (line 1, column 14): 'sometimes' is not a Landlock mode"),
        (#"{"environment": {"A": 1}}"#, "at environment.A (line 1, column 23): expected a string, found a number"),
        (#"{"readonlyPaths": "/"}"#, "at readonlyPaths (line 1, column 19): expected an array, found a string"),
        (#"[]"#, "at top level (line 1, column 1): expected an object, found an array"),
    ]

    @Test(arguments: badPolicies)
    func badPolicyValuesNameTheirPath(json: String, expected: String) {
        do {
            _ = try SandboxPolicy.decode(Array(json.utf8))
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.description.hasPrefix(expected), "\(error)")
        }
    }

    @Test func policyNullsMeanWhatTheyMeantBefore() throws {
        let policy = try SandboxPolicy.decode(Array(#"{"uid": null, "seccompProfile": null, "limits": {"processes": null}}"#.utf8))
        #expect(policy.uid == SandboxPolicy.workerIDs.lowerBound)
        #expect(policy.seccompProfile == nil)
        #expect(policy.limits.processes == nil)
        #expect(policy.limits.openFiles == 1024)
        let defaults = try SandboxPolicy.decode(Array("{}".utf8))
        #expect(defaults == SandboxPolicy())
    }

    @Test func profileErrorsCarryThePath() {
        let json = #"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "op": "SCMP_CMP_EQ"}]}]}"#
        do {
            _ = try OCISeccompProfile.decode(Array(json.utf8))
            Issue.record("accepted a comparison without a value")
        } catch {
            #expect(error.code == .invalidJSON)
            #expect(error.message.hasPrefix("at syscalls[0].args[0].value (line 1, column 107): required key is missing"), "\(error)")
        }
    }
}
