/// A classic BPF interpreter for seccomp programs (Documentation/networking/filter.rst, the seccomp subset: no
/// packet loads beyond the 64-byte `struct seccomp_data`), to compare two programs' decisions in a test.
struct ClassicBPF {
    struct Instruction {
        var code: UInt16
        var jt: UInt8
        var jf: UInt8
        var k: UInt32
    }

    struct Fault: Error, CustomStringConvertible {
        var description: String
    }

    let program: [Instruction]

    init(_ bytes: [UInt8]) {
        var instructions: [Instruction] = []
        for at in stride(from: 0, to: bytes.count, by: 8) {
            let code = UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
            var k: UInt32 = 0
            for byte in bytes[(at + 4)..<(at + 8)].reversed() { k = k << 8 | UInt32(byte) }
            instructions.append(Instruction(code: code, jt: bytes[at + 2], jf: bytes[at + 3], k: k))
        }
        program = instructions
    }

    /// `struct seccomp_data` as the kernel lays it out (little-endian): nr, arch, instruction pointer, six args.
    static func data(nr: UInt32, arch: UInt32, args: [UInt64]) -> [UInt32] {
        var words: [UInt32] = [nr, arch, 0, 0]
        for i in 0..<6 {
            let value = i < args.count ? args[i] : 0
            words += [UInt32(truncatingIfNeeded: value), UInt32(truncatingIfNeeded: value >> 32)]
        }
        return words
    }

    func run(_ data: [UInt32]) throws(Fault) -> UInt32 {
        var a: UInt32 = 0, x: UInt32 = 0
        var memory = [UInt32](repeating: 0, count: 16)
        var pc = 0
        func load(_ offset: UInt32) throws(Fault) -> UInt32 {
            guard offset % 4 == 0, Int(offset / 4) < data.count else { throw Fault(description: "load at \(offset)") }
            return data[Int(offset / 4)]
        }
        while pc < program.count {
            let i = program[pc]
            pc += 1
            let source = i.code & 0x08 != 0 ? x : i.k
            switch i.code & 0x07 {
            case 0x00:  // LD
                switch i.code & 0xe0 {
                case 0x00: a = i.k
                case 0x20: a = try load(i.k)
                case 0x60: a = memory[Int(i.k & 15)]
                case 0x80: a = 64
                default: throw Fault(description: "ld mode \(i.code)")
                }
            case 0x01:  // LDX
                switch i.code & 0xe0 {
                case 0x00: x = i.k
                case 0x60: x = memory[Int(i.k & 15)]
                case 0x80: x = 64
                default: throw Fault(description: "ldx mode \(i.code)")
                }
            case 0x02: memory[Int(i.k & 15)] = a
            case 0x03: memory[Int(i.k & 15)] = x
            case 0x04:  // ALU
                switch i.code & 0xf0 {
                case 0x00: a = a &+ source
                case 0x10: a = a &- source
                case 0x20: a = a &* source
                case 0x30: guard source != 0 else { return 0 }; a /= source
                case 0x40: a |= source
                case 0x50: a &= source
                case 0x60: a = source < 32 ? a << source : 0
                case 0x70: a = source < 32 ? a >> source : 0
                case 0x80: a = 0 &- a
                case 0x90: guard source != 0 else { return 0 }; a %= source
                case 0xa0: a ^= source
                default: throw Fault(description: "alu op \(i.code)")
                }
            case 0x05:  // JMP
                let taken: Bool
                switch i.code & 0xf0 {
                case 0x00:
                    pc += Int(i.k)
                    continue
                case 0x10: taken = a == source
                case 0x20: taken = a > source
                case 0x30: taken = a >= source
                case 0x40: taken = a & source != 0
                default: throw Fault(description: "jmp op \(i.code)")
                }
                pc += Int(taken ? i.jt : i.jf)
            case 0x06: return i.code & 0x18 == 0x10 ? a : i.k
            case 0x07: if i.code & 0xf8 == 0x80 { a = x } else { x = a }
            default: throw Fault(description: "class \(i.code)")
            }
        }
        throw Fault(description: "ran off the end")
    }
}
