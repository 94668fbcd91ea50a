#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The checkpoints of a log directory: `checkpoint` (the latest, replaced atomically) and `checkpoints.log` (every
/// checkpoint ever written, as frames `uint32 big-endian length || note bytes`).
enum CheckpointFiles {
    /// A checkpoint read back from disk, with where it came from.
    struct Stored: Sendable {
        let bytes: [UInt8]
        let source: String
    }

    /// Every stored checkpoint note: the history entries in order, then the `checkpoint` file.
    /// A torn final history entry is skipped and reported in `tornHistoryBytes`.
    static func readAll(directory: String) throws(ReceiptLogError) -> (notes: [Stored], tornHistoryBytes: Int) {
        var notes: [Stored] = []
        var torn = 0
        let historyPath = directory + "/" + LogFiles.checkpointHistory
        if let history = try FileSystem.readFile(historyPath) {
            var offset = 0
            var number = 0
            while offset < history.count {
                guard history.count - offset >= 4 else {
                    torn = history.count - offset
                    break
                }
                let length =
                    Int(history[offset]) << 24 | Int(history[offset + 1]) << 16 | Int(history[offset + 2]) << 8
                    | Int(history[offset + 3])
                guard length > 0, history.count - offset - 4 >= length else {
                    torn = history.count - offset
                    break
                }
                notes.append(
                    Stored(
                        bytes: Array(history[(offset + 4)..<(offset + 4 + length)]),
                        source: "\(LogFiles.checkpointHistory) entry \(number)"
                    )
                )
                number += 1
                offset += 4 + length
            }
        }
        if let latest = try FileSystem.readFile(directory + "/" + LogFiles.checkpoint) {
            notes.append(Stored(bytes: latest, source: LogFiles.checkpoint))
        }
        return (notes, torn)
    }

    /// Replaces `checkpoint` atomically, then appends the note to the history (with fdatasync).
    ///
    /// In this order a crash between the two leaves `checkpoint` newer than the history's last entry, which a
    /// verifier accepts with a warning and the next open completes (``appendHistory(_:directory:)``); the other
    /// order would leave `checkpoint` older than the history, which is what a rollback looks like.
    static func write(_ note: [UInt8], directory: String) throws(ReceiptLogError) {
        try FileSystem.writeAtomically(note, to: directory + "/" + LogFiles.checkpoint)
        try appendHistory(note, directory: directory)
    }

    /// Appends one note to `checkpoints.log` and makes it durable; a failed append is cut off again.
    static func appendHistory(_ note: [UInt8], directory: String) throws(ReceiptLogError) {
        let historyPath = directory + "/" + LogFiles.checkpointHistory
        let existed = FileSystem.exists(historyPath)
        let fd = try syscall("open", path: historyPath) {
            open(historyPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        }
        defer { close(fd) }
        var start = stat()
        try syscall("fstat", path: historyPath) { fstat(fd, &start) }
        let length = UInt32(note.count)
        let frame =
            [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)] + note
        do {
            try FileSystem.writeAll(fd, frame, path: historyPath)
            try syscall("fdatasync", path: historyPath) { fdatasync(fd) }
        } catch {
            _ = ftruncate(fd, start.st_size)
            throw error
        }
        if !existed { try FileSystem.fsyncDirectory(directory) }
    }

    /// Cuts a torn final entry off the history.
    static func cutTornHistory(directory: String, bytes: Int) throws(ReceiptLogError) {
        let path = directory + "/" + LogFiles.checkpointHistory
        let fd = try syscall("open", path: path) { open(path, O_WRONLY | O_CLOEXEC) }
        defer { close(fd) }
        var info = stat()
        try syscall("fstat", path: path) { fstat(fd, &info) }
        try syscall("ftruncate", path: path) { ftruncate(fd, info.st_size - off_t(bytes)) }
        try syscall("fsync", path: path) { fsync(fd) }
    }
}
