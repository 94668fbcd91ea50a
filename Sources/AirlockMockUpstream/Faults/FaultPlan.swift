/// The FIFO plan of fault items: the first item whose path matches a request is applied and its count consumed.
struct FaultPlan: Sendable {
    private(set) var items: [MockFault] = []

    mutating func append(_ faults: [MockFault]) {
        self.items.append(contentsOf: faults)
    }

    mutating func removeAll() {
        self.items.removeAll()
    }

    /// Takes the fault for a request to `uri`, or `nil` when no item matches.
    mutating func take(uri: String) -> MockFault? {
        guard let index = self.items.firstIndex(where: { $0.matches(uri: uri) }) else {
            return nil
        }
        let fault = self.items[index]
        if fault.count <= 1 {
            self.items.remove(at: index)
        } else {
            self.items[index].count -= 1
        }
        return fault
    }
}
