import Synchronization

/// State shared by every connection: the request log and the fault plan, behind one lock that is never held
/// across I/O.
final class MockUpstreamState: Sendable {
    struct Inner: Sendable {
        var log: RequestLog
        var plan = FaultPlan()
    }

    let configuration: MockUpstreamConfiguration
    let reply: ReplyText
    private let inner: Mutex<Inner>

    init(configuration: MockUpstreamConfiguration) {
        self.configuration = configuration
        self.reply = ReplyText(configuration.reply, wordCount: configuration.chunkCount)
        var inner = Inner(log: RequestLog(limit: configuration.recordLimit))
        inner.plan.append(configuration.initialFaults)
        self.inner = Mutex(inner)
    }

    /// Records a provider request and takes the fault that applies to it.
    func begin(
        method: String,
        uri: String,
        pathOnly: String,
        headers: [String: String],
        body: String,
        time: Double
    ) -> (id: Int, fault: MockFault) {
        let defaultFault = self.configuration.defaultFault
        return self.inner.withLock { inner in
            let id = inner.log.makeID()
            let record = RecordedRequest(
                id: id, method: method, path: uri, headers: headers, body: body, time: time, status: 0,
                cancelled: false
            )
            inner.log.append(record, pathOnly: pathOnly)
            return (id, inner.plan.take(uri: uri) ?? defaultFault)
        }
    }

    func setStatus(id: Int, status: Int) {
        self.inner.withLock { $0.log.update(id: id) { $0.status = status } }
    }

    func markCancelled(id: Int) {
        self.inner.withLock { $0.log.markCancelled(id: id) }
    }

    func appendFaults(_ faults: [MockFault]) {
        self.inner.withLock { $0.plan.append(faults) }
    }

    func clearFaults() {
        self.inner.withLock { $0.plan.removeAll() }
    }

    var faults: [MockFault] {
        self.inner.withLock { $0.plan.items }
    }

    var requests: [RecordedRequest] {
        self.inner.withLock { $0.log.requests }
    }

    func clearRequests() {
        self.inner.withLock {
            $0.log.removeAll()
            $0.log.resetCounters()
        }
    }

    var stats: MockStats {
        self.inner.withLock { MockStats(total: $0.log.total, cancelled: $0.log.cancelled, paths: $0.log.perPath) }
    }
}
