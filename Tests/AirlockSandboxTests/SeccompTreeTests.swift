import AirlockSandbox
import CSeccomp
import Foundation
import Testing

/// The launcher compiles profiles as a binary tree (faster to attach); it must decide every syscall exactly as the
/// plain list libseccomp produces by default. Both programs are run on every syscall number of every architecture
/// this CPU can execute, with argument values around every constant the profile compares against.
struct SeccompTreeTests {
    static let profiles = [TestSupport.agentStrictProfile, TestSupport.dockerDefaultProfile]

    @Test(arguments: profiles)
    func binaryTreeDecidesLikeTheList(path: String) throws {
        let profile = try OCISeccompProfile.load(path: path)
        var list = SeccompCompiler()
        list.binaryTree = false
        let tree = ClassicBPF(try SeccompCompiler().compile(profile).filter)
        let plain = ClassicBPF(try list.compile(profile).filter)
        #expect(tree.program.count != plain.program.count, "the tree option had no effect")

        var constants: Set<UInt64> = [0, 1, 2, 3, 0xffff_ffff, 0x1_0000_0000, .max]
        for rule in profile.syscalls ?? [] {
            for arg in rule.args ?? [] {
                for value in [arg.value, arg.valueTwo ?? 0] {
                    constants.formUnion([value, value &+ 1, value &- 1, value | 0x8_0000, value | (1 << 40), ~value])
                }
            }
        }
        let values = constants.sorted()
        let x8664: UInt32 = 0xc000_003e, i386: UInt32 = 0x4000_0003, aarch64: UInt32 = 0xc000_00b7
        var checked = 0
        for arch in [x8664, i386, aarch64] {
            for base in [UInt32(0), 0x4000_0000] {
                for number in 0..<UInt32(600) {
                    let nr = base | number
                    let zero = ClassicBPF.data(nr: nr, arch: arch, args: [])
                    let answer = try plain.run(zero)
                    #expect(try tree.run(zero) == answer, "nr \(nr) arch \(String(arch, radix: 16))")
                    // Arguments matter only where a rule compares them; probe each argument position.
                    for position in 0..<3 {
                        for value in values {
                            var args = [UInt64](repeating: 0, count: 6)
                            args[position] = value
                            let data = ClassicBPF.data(nr: nr, arch: arch, args: args)
                            let expected = try plain.run(data)
                            if try tree.run(data) != expected {
                                Issue.record("nr \(nr) arch \(String(arch, radix: 16)) arg\(position)=\(value): tree differs")
                            }
                            checked += 1
                        }
                    }
                }
            }
        }
        #expect(checked > 100_000)
    }

    /// The interpreter agrees with what the escape suite observes in the real sandbox.
    @Test func interpreterReadsAgentStrictAsTheKernelDoes() throws {
        let strict = ClassicBPF(try SeccompCompiler().compile(try OCISeccompProfile.load(path: TestSupport.agentStrictProfile)).filter)
        let x8664: UInt32 = 0xc000_003e
        func decide(_ name: String, arch: UInt32 = x8664, _ args: [UInt64] = []) throws -> UInt32 {
            try strict.run(ClassicBPF.data(nr: UInt32(seccomp_syscall_resolve_name(name)), arch: arch, args: args))
        }
        let allow: UInt32 = 0x7fff_0000, eperm: UInt32 = 0x0005_0001, killProcess: UInt32 = 0x8000_0000
        #expect(try decide("read") == allow)
        #expect(try decide("getppid") == allow)
        #expect(try decide("ptrace") == eperm)
        #expect(try decide("clone3") == 0x0005_0026)  // ERRNO(ENOSYS)
        #expect(try decide("socket", [2, 1]) == allow)  // AF_INET, SOCK_STREAM
        #expect(try decide("socket", [2, 2]) == eperm)  // AF_INET, SOCK_DGRAM
        #expect(try decide("socket", [16, 3]) == eperm)  // AF_NETLINK
        #expect(try decide("ioctl", [0, 0x5412]) == 0x0005_000d)  // TIOCSTI: ERRNO(EACCES)
        #expect(try decide("ioctl", [0, 0xffff_ffff_0000_5412]) == 0x0005_000d)  // high bits ignored, as the kernel does
        #expect(try decide("ioctl", [0, 0x5413]) == allow)  // TIOCGWINSZ
        #expect(try decide("clone", [0x1_0000_0000 | 17]) == allow)  // SIGCHLD; the high half is not compared
        #expect(try decide("clone", [0x1000_0000 | 17]) == eperm)  // CLONE_NEWUSER
        #expect(try decide("read", arch: 0x4000_0003) == killProcess)  // i386 is not in the profile
        #expect(try strict.run(ClassicBPF.data(nr: 0x4000_0000, arch: x8664, args: [])) == killProcess)  // x32
    }
}
