/// The framing of records in segment files:
///
///     uint32 big-endian leaf length L (1...maxLeafBytes) || 32-byte leaf hash SHA-256(0x00 || leaf) || L leaf bytes
///
/// The stored leaf hash doubles as the frame checksum: a torn or altered frame does not match it.
enum Frame {
    static let headerBytes = 4 + MerkleHash.byteCount
    /// The largest leaf accepted.
    static let maxLeafBytes = 64 * 1024

    /// Appends a frame for `leaf` to `out`, returning the leaf hash.
    static func append(leaf: UnsafeRawBufferPointer, to out: inout [UInt8]) -> MerkleHash {
        let hash = RFC6962.leafHash(pointer: leaf)
        let length = UInt32(leaf.count)
        out.append(UInt8(length >> 24))
        out.append(UInt8(length >> 16 & 0xff))
        out.append(UInt8(length >> 8 & 0xff))
        out.append(UInt8(length & 0xff))
        hash.withUnsafeBytes { out.append(contentsOf: $0) }
        out.append(contentsOf: leaf)
        return hash
    }

    /// One frame found in a buffer.
    struct Parsed {
        /// Offset of the frame header.
        let offset: Int
        /// Range of the leaf bytes.
        let leaf: Range<Int>
        /// The leaf hash stored in the header.
        let storedHash: MerkleHash

        var end: Int { leaf.upperBound }
    }

    enum ScanResult {
        case frame(Parsed)
        case end
        case invalid(offset: Int, reason: String)
    }

    /// Reads the frame at `offset`. Checks the header and length, not the hash.
    static func parse(_ buffer: UnsafeRawBufferPointer, at offset: Int) -> ScanResult {
        if offset == buffer.count { return .end }
        guard buffer.count - offset >= headerBytes else {
            return .invalid(offset: offset, reason: "incomplete frame header (\(buffer.count - offset) bytes)")
        }
        let length =
            Int(buffer[offset]) << 24 | Int(buffer[offset + 1]) << 16 | Int(buffer[offset + 2]) << 8
            | Int(buffer[offset + 3])
        guard length >= 1, length <= maxLeafBytes else {
            return .invalid(offset: offset, reason: "frame length \(length) is out of range")
        }
        let leafStart = offset + headerBytes
        guard buffer.count - leafStart >= length else {
            return .invalid(
                offset: offset,
                reason: "incomplete frame: \(buffer.count - leafStart) of \(length) leaf bytes present"
            )
        }
        let hash = MerkleHash(copying: buffer.baseAddress! + offset + 4)
        return .frame(Parsed(offset: offset, leaf: leafStart..<(leafStart + length), storedHash: hash))
    }
}
