#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSeccomp

enum KernelVersion {
    /// Compares "6.18.44-fc" against Docker's `minKernel` ("4.8") numerically, major then minor.
    static func release(_ release: String, atLeast minimum: String) -> Bool {
        func parts(_ s: String) -> [Int] {
            s.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        }
        let have = parts(release), want = parts(minimum)
        for i in 0..<max(have.count, want.count) {
            let a = i < have.count ? have[i] : 0, b = i < want.count ? want[i] : 0
            if a != b { return a > b }
        }
        return true
    }
}

extension SeccompCompiler {
    /// uname's release string.
    public static var kernelRelease: String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// Docker's architecture vocabulary for this machine.
    public static var nativeGoArchitecture: String {
        let native = seccomp_arch_native()
        let names = ["x86_64": "amd64", "aarch64": "arm64", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"]
        return names.first { seccomp_arch_resolve_name($0.key) == native }?.value ?? "unknown"
    }
}
