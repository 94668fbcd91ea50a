import CAirlockLinux
import Synchronization

/// Random numbers from the system source, fetched a page at a time: request ids, trace ids and span ids
/// need three to four per request, and one `getrandom(2)` per number was a measurable part of a request.
/// The numbers are the system source's own bytes, in order, each handed out once.
struct BufferedRandom: RandomNumberGenerator {
    private static let pool = Mutex(Pool())

    private struct Pool: ~Copyable {
        var words = [UInt64](repeating: 0, count: 512)
        var next = 512

        mutating func take() -> UInt64 {
            if next == words.count {
                refill()
                next = 0
            }
            defer { next += 1 }
            return words[next]
        }

        /// One `getrandom(2)` for the whole page (the kernel's CSPRNG, as `SystemRandomNumberGenerator` uses).
        private mutating func refill() {
            let filled = words.withUnsafeMutableBytes { airlock_random_bytes($0.baseAddress, $0.count) == 0 }
            if !filled {
                var system = SystemRandomNumberGenerator()
                for index in words.indices { words[index] = system.next() }
            }
        }
    }

    mutating func next() -> UInt64 {
        Self.pool.withLock { $0.take() }
    }
}
