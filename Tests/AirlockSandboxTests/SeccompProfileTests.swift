import AirlockSandbox
import Foundation
import Testing

struct SeccompProfileTests {
    @Test func dockerDefaultProfileLoadsUnchanged() throws {
        let profile = try OCISeccompProfile.load(path: TestSupport.dockerDefaultProfile)
        let program = try SeccompCompiler().compile(profile)
        let summary = try #require(program.summary)
        #expect(program.instructionCount > 100)
        #expect(summary.allowed.contains("read"))
        // Rules for capabilities the worker does not hold are left out, as Docker does for an unprivileged container.
        #expect(!summary.allowed.contains("mount"))
        #expect(summary.explicit["clone3"] == "ERRNO(ENOSYS)")
        #expect(summary.architectures.contains("SCMP_ARCH_X86"))
    }

    @Test func agentStrictDeniesTheIssueList() throws {
        let profile = try OCISeccompProfile.load(path: TestSupport.agentStrictProfile)
        let summary = try #require(try SeccompCompiler().compile(profile).summary)
        let reachable = Set(summary.allowed).union(summary.conditional.keys)
        let denied = [
            "ptrace", "process_vm_readv", "process_vm_writev", "bpf", "userfaultfd", "perf_event_open", "keyctl",
            "add_key", "request_key", "mount", "umount2", "pivot_root", "open_tree", "move_mount", "fsopen", "fsconfig",
            "fsmount", "fspick", "mount_setattr", "chroot", "unshare", "setns", "io_uring_setup", "io_uring_enter",
            "io_uring_register", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
            "reboot", "swapon", "swapoff", "acct", "quotactl", "syslog", "kcmp",
        ]
        for name in denied { #expect(!reachable.contains(name), "\(name) is allowed") }
        #expect(summary.explicit["clone3"] == "ERRNO(ENOSYS)")
        #expect(summary.conditional["clone"] != nil)
        // AF_UNIX, and AF_INET/AF_INET6 stream sockets with protocol 0 or IPPROTO_TCP exactly (two rules each).
        #expect(summary.conditional["socket"]?.count == 5)
        #expect(summary.defaultAction == "ERRNO(EPERM)")
    }

    static let badProfiles: [(json: String, code: SeccompProfileError.Code, location: String)] = [
        (#"{"syscalls": []}"#, .invalidJSON, "profile"),
        (#"{"defaultAction": "SCMP_ACT_MAYBE"}"#, .unknownAction, "defaultAction"),
        (#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000}"#, .errnoRange, "defaultErrnoRet"),
        (#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}"#,
         .unsupportedAction, "syscalls[0].action"),
        (#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}"#, .emptyRule, "syscalls[0]"),
        (#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
         .argumentIndex, "syscalls[0].args[0].index"),
        (#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}"#,
         .unknownOperator, "syscalls[0].args[0].op"),
        (#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_Z80"]}"#, .unknownArchitecture, "architectures[0]"),
        (#"{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_MAGIC"]}"#, .unknownFlag, "flags[0]"),
    ]

    @Test(arguments: badProfiles)
    func badProfileIsRejectedWithItsLocation(json: String, code: SeccompProfileError.Code, location: String) throws {
        do {
            let profile = try OCISeccompProfile.decode(Array(json.utf8))
            _ = try SeccompCompiler().compile(profile)
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.code == code, "\(error)")
            #expect(error.location == location, "\(error)")
        }
    }

    @Test func unknownSyscallNamesAreReportedNotFatal() throws {
        let json = #"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "frobnicate"], "action": "SCMP_ACT_ALLOW"}]}"#
        let program = try SeccompCompiler().compile(try OCISeccompProfile.decode(Array(json.utf8)))
        #expect(program.summary?.unknown == ["frobnicate"])
    }
}
