import Testing

@testable import AirlockReceipts

/// Indices an auditor types (or a script computes) are outside values: none of them may trap the tools.
@Suite("Reader bounds")
struct ReaderBoundsTests {
    @Test("any record index, the largest included, is answered: the record or none", arguments: [
        UInt64(0), 3, 4, UInt64(Int64.max), UInt64.max - 1, UInt64.max,
    ])
    func anyIndex(index: UInt64) async throws {
        let directory = makeTemporaryDirectory("bounds")
        defer { removeDirectory(directory) }
        try await makeLog(directory, count: 3)
        let entry = try LogReader(directory: directory).entry(at: index)
        // makeLog writes the key's admin record first, then `count` records.
        #expect((entry != nil) == (index < 4))
        #expect(entry.map { $0.index == index } ?? true)
    }
}
