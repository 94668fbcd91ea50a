/// Bounded ring buffer of recorded requests plus per-path counters.
struct RequestLog: Sendable {
    private var ring: [RecordedRequest] = []
    private var start = 0
    private let limit: Int
    private(set) var nextID = 1
    private(set) var total = 0
    private(set) var cancelled = 0
    private(set) var perPath: [String: Int] = [:]

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    mutating func makeID() -> Int {
        defer { self.nextID += 1 }
        return self.nextID
    }

    mutating func append(_ request: RecordedRequest, pathOnly: String) {
        self.total += 1
        self.perPath[pathOnly, default: 0] += 1
        if self.ring.count < self.limit {
            self.ring.append(request)
        } else {
            self.ring[self.start] = request
            self.start = (self.start + 1) % self.limit
        }
    }

    mutating func markCancelled(id: Int) {
        guard let index = self.index(of: id), !self.ring[index].cancelled else { return }
        self.ring[index].cancelled = true
        self.cancelled += 1
    }

    mutating func update(id: Int, _ body: (inout RecordedRequest) -> Void) {
        guard let index = self.index(of: id) else { return }
        body(&self.ring[index])
    }

    mutating func removeAll() {
        self.ring.removeAll(keepingCapacity: true)
        self.start = 0
    }

    mutating func resetCounters() {
        self.total = 0
        self.cancelled = 0
        self.perPath.removeAll()
    }

    /// Oldest first.
    var requests: [RecordedRequest] {
        Array(self.ring[self.start...] + self.ring[..<self.start])
    }

    private func index(of id: Int) -> Int? {
        // Ids increase by one per append, so the slot is computable; a miss means it was evicted or cleared.
        guard let oldest = self.ring.isEmpty ? nil : self.ring[self.start].id, id >= oldest else { return nil }
        let offset = id - oldest
        guard offset < self.ring.count else { return nil }
        let index = (self.start + offset) % self.ring.count
        return self.ring[index].id == id ? index : nil
    }
}
