import CAirlockSandbox

/// The release, as `airlock --version` prints it.
public enum AirlockVersion {
    public static let current = "0.1.0"

    /// The executable's GNU build-id in hex (empty without one): changes with every build, so anything derived
    /// from this build's code (a compiled seccomp program) is not reused by another.
    public static var buildID: String {
        var bytes = [UInt8](repeating: 0, count: 64)
        let count = Int(airlock_build_id(&bytes, bytes.count))
        return Hex.encode(bytes.prefix(count))
    }
}

enum Hex {
    static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
