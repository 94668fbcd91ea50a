#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Everything left to read on `handle`, read with read(2) and retried on EINTR. Foundation's
/// `readDataToEndOfFile()` traps (`try!`) when a read is interrupted by a signal, which took the whole test run down
/// once while a child's output was collected.
public func readToEnd(_ handle: FileHandle) -> Data {
    readToEnd(handle.fileDescriptor)
}

/// Everything left to read on the descriptor `fd`, as `readToEnd(_: FileHandle)`; `fd` stays open.
public func readToEnd(_ fd: Int32) -> Data {
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n > 0 {
            data.append(contentsOf: buffer[0..<n])
        } else if n < 0 && errno == EINTR {
            continue
        } else {
            return data
        }
    }
}
