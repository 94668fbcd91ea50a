#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads `fd` to its end, or until `limit` bytes have been read.
public func readAll(fd: Int32, limit: Int = .max) throws(SystemError) -> [UInt8] {
    var data: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: min(limit, 65536))
    while data.count < limit {
        let wanted = min(chunk.count, limit - data.count)
        let n = try valueOrErrno { chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, wanted) } }
        if n == 0 { break }
        data.append(contentsOf: chunk[0..<n])
    }
    return data
}
