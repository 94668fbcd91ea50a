#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Appends batches of frames to the current segment file and starts a new segment when it is full.
///
/// Writes go to a known offset with `pwrite`, so a failed batch can be cut off again with `ftruncate` and nothing
/// half-written stays visible.
struct SegmentWriter {
    let directory: String
    let maxSegmentBytes: Int
    private(set) var segment: SegmentName
    private(set) var offset: Int
    private var fd: Int32

    var path: String { directory + "/" + segment.fileName }

    init(directory: String, segment: SegmentName, offset: Int, maxSegmentBytes: Int) throws(ReceiptLogError) {
        self.directory = directory
        self.segment = segment
        self.offset = offset
        self.maxSegmentBytes = maxSegmentBytes
        let path = directory + "/" + segment.fileName
        let existed = FileSystem.exists(path)
        fd = try syscall("open segment", path: path) { open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644) }
        if !existed { try FileSystem.fsyncDirectory(directory) }
    }

    /// Starts a new segment whose first record will be `firstIndex`, if the current one is full.
    mutating func rollIfFull(firstIndex: UInt64) throws(ReceiptLogError) {
        guard offset >= maxSegmentBytes, offset > 0 else { return }
        let next = SegmentName(firstIndex: firstIndex)
        let nextPath = directory + "/" + next.fileName
        let newFD = try syscall("create segment", path: nextPath) {
            open(nextPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        }
        do {
            try FileSystem.fsyncDirectory(directory)
        } catch {
            close(newFD)
            unlink(nextPath)
            throw error
        }
        close(fd)
        fd = newFD
        segment = next
        offset = 0
    }

    /// The descriptor of the current segment (for the sync stage; it stays open until the next roll or close).
    var currentFD: Int32 { fd }

    /// Whether the next batch starts a new segment.
    var isFull: Bool { offset >= maxSegmentBytes && offset > 0 }

    /// Writes `bytes` at the end of the segment without syncing. On a write failure the segment is cut back to its
    /// previous end; if even that fails, the error says the log must be reopened.
    mutating func write(_ bytes: UnsafeRawBufferPointer) -> Result<Void, AppendFailure> {
        var done = 0
        while done < bytes.count {
            do {
                done += try syscall("write to segment", path: path) {
                    pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
                }
            } catch {
                if ftruncate(fd, off_t(offset)) == 0 { return .failure(.recoverable(error)) }
                return .failure(.poisoned(error))
            }
        }
        offset += bytes.count
        return .success(())
    }

    /// `fdatasync` of a segment; nil on success.
    static func sync(fd: Int32, path: String) -> ReceiptLogError? {
        do {
            try syscall("fdatasync segment", path: path) { fdatasync(fd) }
            return nil
        } catch {
            return error
        }
    }

    /// Writes `bytes` at the end of the segment and makes them durable. On a write failure the segment is cut back
    /// to its previous end; if even that fails, or the sync fails, the error says the log must be reopened.
    mutating func append(_ bytes: UnsafeRawBufferPointer) -> Result<Void, AppendFailure> {
        let start = offset
        if case .failure(let failure) = write(bytes) { return .failure(failure) }
        if let error = Self.sync(fd: fd, path: path) {
            // After a failed fsync the kernel may have dropped the dirty pages; retrying could report success for
            // data that is gone (PostgreSQL "fsyncgate", 2018). Only a reopen, which re-reads the file, is safe.
            _ = ftruncate(fd, off_t(start))
            offset = start
            return .failure(.poisoned(error))
        }
        return .success(())
    }

    func closeFile() {
        close(fd)
    }

    enum AppendFailure: Error {
        /// Nothing of the batch is visible; later appends may continue.
        case recoverable(ReceiptLogError)
        /// The state of the file is unknown; the log must be reopened.
        case poisoned(ReceiptLogError)
    }
}
