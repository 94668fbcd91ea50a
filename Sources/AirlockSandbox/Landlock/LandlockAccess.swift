/// Landlock access rights and the ABI that introduced each (include/uapi/linux/landlock.h,
/// Documentation/userspace-api/landlock.rst "Previous limitations").
enum LandlockAccess {
    static let execute: UInt64 = 1 << 0
    static let writeFile: UInt64 = 1 << 1
    static let readFile: UInt64 = 1 << 2
    static let readDir: UInt64 = 1 << 3
    static let makeChar: UInt64 = 1 << 6
    static let makeBlock: UInt64 = 1 << 11
    static let refer: UInt64 = 1 << 13  // ABI 2
    static let truncate: UInt64 = 1 << 14  // ABI 3
    static let ioctlDev: UInt64 = 1 << 15  // ABI 5

    static let bindTCP: UInt64 = 1 << 0  // ABI 4
    static let connectTCP: UInt64 = 1 << 1  // ABI 4

    static let scopeAbstractUnixSocket: UInt64 = 1 << 0  // ABI 6
    static let scopeSignal: UInt64 = 1 << 1  // ABI 6

    /// Every filesystem right the kernel at `abi` can enforce.
    static func handledFilesystem(abi: Int) -> UInt64 {
        guard abi >= 1 else { return 0 }
        var mask: UInt64 = (1 << 13) - 1
        if abi >= 2 { mask |= refer }
        if abi >= 3 { mask |= truncate }
        if abi >= 5 { mask |= ioctlDev }
        return mask
    }

    static func handledNetwork(abi: Int) -> UInt64 { abi >= 4 ? bindTCP | connectTCP : 0 }

    static func scoped(abi: Int) -> UInt64 { abi >= 6 ? scopeAbstractUnixSocket | scopeSignal : 0 }

    static let readOnly: UInt64 = execute | readFile | readDir

    static func names(_ mask: UInt64) -> String {
        let table: [(UInt64, String)] = [
            (execute, "execute"), (writeFile, "write_file"), (readFile, "read_file"), (readDir, "read_dir"),
            (1 << 4, "remove_dir"), (1 << 5, "remove_file"), (makeChar, "make_char"), (1 << 7, "make_dir"),
            (1 << 8, "make_reg"), (1 << 9, "make_sock"), (1 << 10, "make_fifo"), (makeBlock, "make_block"),
            (1 << 12, "make_sym"), (refer, "refer"), (truncate, "truncate"), (ioctlDev, "ioctl_dev"),
        ]
        return table.filter { mask & $0.0 != 0 }.map(\.1).joined(separator: ",")
    }
}
