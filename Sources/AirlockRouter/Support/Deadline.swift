import Synchronization

/// A call that did not finish within its deadline.
struct DeadlineExceeded: Error, CustomStringConvertible {
    let what: String
    let limit: Duration

    var description: String { "\(what) took longer than \(limit)" }
}

/// Runs `body` and returns its result, or throws ``DeadlineExceeded`` once `limit` has passed, whether or not
/// `body` reacts to cancellation (a query to a server that stopped answering may not): it is cancelled and left
/// to end on its own, so the caller never waits past the deadline.
func withDeadline<T: Sendable>(
    _ limit: Duration,
    _ what: String,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let work = Task { try await body() }
    let race = DeadlineRace<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            race.arm(continuation)
            Task {
                let result = await work.result
                race.finish(result)
            }
            Task {
                try? await Task.sleep(for: limit)
                if race.finish(.failure(DeadlineExceeded(what: what, limit: limit))) { work.cancel() }
            }
        }
    } onCancel: {
        work.cancel()
    }
}

/// Resumes a continuation once, with whichever result comes first.
private final class DeadlineRace<T: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, early: Result<T, any Error>?)>((nil, nil))

    func arm(_ continuation: CheckedContinuation<T, any Error>) {
        let early: Result<T, any Error>? = state.withLock { s in
            if let early = s.early { return early }
            s.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    /// Whether this call decided the outcome.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let decided: (CheckedContinuation<T, any Error>?, Bool) = state.withLock { s in
            if let continuation = s.continuation {
                s.continuation = nil
                s.early = result
                return (continuation, true)
            }
            if s.early != nil { return (nil, false) }
            s.early = result
            return (nil, true)
        }
        decided.0?.resume(with: result)
        return decided.1
    }
}
