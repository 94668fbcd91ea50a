import NIOCore
import NIOHTTP1

/// Why an upstream exchange failed, in words that never carry a credential or a body.
enum UpstreamTransportError: Error, Equatable, CustomStringConvertible {
    case connectTimeout
    case connectFailed(String)
    case tlsFailed(String)
    case responseHeadTimeout
    case readTimeout
    case closedBeforeResponse
    case closedMidBody
    case malformedResponse
    /// A response the router must not pass on (a status outside 200-599): never retried on that upstream.
    case protocolError(String)
    case cancelled

    /// Whether the request may have reached the provider (and so may have been generated for): everything but a
    /// failure to connect.
    var reachedProvider: Bool {
        switch self {
        case .connectTimeout, .connectFailed, .tlsFailed: return false
        default: return true
        }
    }

    var description: String {
        switch self {
        case .connectTimeout: return "connect timed out"
        case .connectFailed(let why): return "connect failed: \(why)"
        case .tlsFailed(let why): return "TLS failed: \(why)"
        case .responseHeadTimeout: return "no response head in time"
        case .readTimeout: return "response body stalled"
        case .closedBeforeResponse: return "connection closed before a response"
        case .closedMidBody: return "connection closed in the response body"
        case .malformedResponse: return "malformed HTTP response"
        case .protocolError(let what): return "protocol error: \(what)"
        case .cancelled: return "cancelled"
        }
    }
}

/// Sees each response body chunk as it passes to the agent (usage and digest); lives on the event loop.
protocol UpstreamBodyObserver: AnyObject {
    /// Sees a chunk from the upstream; returns what to write to the agent for it (nil: nothing yet).
    func pass(_ chunk: ByteBuffer) -> ByteBuffer?
    /// The body ended: whatever the observer still holds that may go out before the end.
    func finish() -> ByteBuffer?
}

/// One request/response exchange on one pooled upstream connection. Every member is touched on `loop` only:
/// the connection is leased from the pool of the agent connection's loop, and the request task runs there.
final class UpstreamExchange: @unchecked Sendable {
    let loop: any EventLoop
    private var headPromise: EventLoopPromise<UpstreamResponseHead>?
    private(set) var connection: UpstreamConnection?
    private var aborted = false
    /// Set when the exchange runs on a pooled connection: sends the request again on a new connection if that
    /// one closes before any response byte (see `UpstreamHTTPClient.begin`). Used at most once.
    var resendOnStale: (() -> Void)?

    // The body, buffered until someone takes it (relay or discard), then passed on as it arrives.
    private var pending: [ByteBuffer] = []
    private var pendingBytes = 0
    private var ended = false
    private var failure: UpstreamTransportError?
    private var relay: Relay?
    private var readTimeout: TimeAmount = .seconds(60)
    private var readTimer: Scheduled<Void>?
    private var lastActivity = NIODeadline.now()

    /// Longest body kept while nobody consumes it yet; reading pauses beyond this.
    static let bufferLimit = 256 << 10
    /// Unflushed bytes written to the agent before a flush is forced on a non-streaming response.
    static let flushThreshold = 64 << 10

    private final class Relay {
        /// Nil when the body is collected by the observer rather than written anywhere (see `collect`).
        let target: (any Channel)?
        let flushEachRead: Bool
        let observer: any UpstreamBodyObserver
        let done: EventLoopPromise<Void>
        var unflushed = 0
        var waitingForWrite = false

        init(target: (any Channel)?, flushEachRead: Bool, observer: any UpstreamBodyObserver, done: EventLoopPromise<Void>) {
            self.target = target
            self.flushEachRead = flushEachRead
            self.observer = observer
            self.done = done
        }
    }

    /// Completes with the response head, or fails with `UpstreamTransportError`.
    let head: EventLoopFuture<UpstreamResponseHead>

    init(loop: any EventLoop) {
        self.loop = loop
        let promise = loop.makePromise(of: UpstreamResponseHead.self)
        self.headPromise = promise
        self.head = promise.futureResult
    }

    // MARK: From the pool and the caller

    /// Binds the exchange to a connection and sends the request in one write.
    func start(on connection: UpstreamConnection, request: UpstreamRequest, headDeadline: NIODeadline, readTimeout: TimeAmount) {
        if aborted {
            connection.close()
            return
        }
        self.connection = connection
        self.readTimeout = readTimeout
        connection.send(request, exchange: self, headDeadline: headDeadline)
    }

    /// The agent went away or the caller gave up: close the connection, fail whatever waits.
    func abort() {
        guard !aborted else { return }
        aborted = true
        let connection = self.connection
        fail(.cancelled)
        connection?.close()
    }

    /// Drops the body of a response replaced by a retry. Unless the body has already ended, the connection is
    /// closed rather than read to the end: cheaper than reading an unknown body, and retries are rare.
    func discard() {
        if !ended {
            aborted = true
            connection?.close()
        }
        pending = []
        pendingBytes = 0
    }

    /// Passes the body to `target` as it arrives: the head first (`headPart`, built by the caller), then each
    /// chunk, flushed at the end of every read burst when `flushEachRead` (streams: a chunk is never held
    /// back), else only past `flushThreshold` (the caller flushes with the final part). Completes when the
    /// upstream body has ended; the final part is the caller's to write.
    func relay(head headPart: HTTPServerResponsePart, to target: any Channel, flushEachRead: Bool, observer: any UpstreamBodyObserver) -> EventLoopFuture<Void> {
        target.write(headPart, promise: nil)
        return start(Relay(target: target, flushEachRead: flushEachRead, observer: observer, done: loop.makePromise(of: Void.self)))
    }

    /// Passes the body to `observer` alone, for an answer the router reads itself (an OAuth token): what the
    /// observer returns goes nowhere. Completes when the body has ended.
    func collect(into observer: any UpstreamBodyObserver) -> EventLoopFuture<Void> {
        start(Relay(target: nil, flushEachRead: false, observer: observer, done: loop.makePromise(of: Void.self)))
    }

    private func start(_ relay: Relay) -> EventLoopFuture<Void> {
        loop.preconditionInEventLoop()
        let done = relay.done
        let target = relay.target
        self.relay = relay
        let buffered = pending
        pending = []
        pendingBytes = 0
        for chunk in buffered {
            pass(chunk, relay)
        }
        if let failure {
            finishRelay(.failure(failure))
        } else if ended {
            finishRelay(.success(()))
        } else {
            if relay.flushEachRead {
                target?.flush()
                relay.unflushed = 0
            }
            connection?.resumeReads()
            armReadTimer()
        }
        return done.futureResult
    }

    // MARK: From the connection's handler

    func receivedHead(_ head: HTTPResponseHead) {
        guard let promise = headPromise else { return }
        headPromise = nil
        lastActivity = .now()
        promise.succeed(UpstreamResponseHead(status: head.status, headers: head.headers))
    }

    func receivedBody(_ chunk: ByteBuffer) {
        lastActivity = .now()
        if let relay {
            pass(chunk, relay)
        } else {
            pending.append(chunk)
            pendingBytes += chunk.readableBytes
            if pendingBytes > Self.bufferLimit {
                connection?.pauseReads()
            }
        }
    }

    func readBurstEnded() {
        if !ended && failure == nil && headPromise == nil {
            armReadTimer()
        }
        guard let relay, relay.unflushed > 0 else { return }
        if relay.flushEachRead || relay.unflushed >= Self.flushThreshold {
            relay.target?.flush()
            relay.unflushed = 0
        }
    }

    func receivedEnd() {
        ended = true
        // The connection went back to its pool (or closed): it is no longer this exchange's to close.
        connection = nil
        cancelReadTimer()
        if relay != nil {
            finishRelay(.success(()))
        }
    }

    /// The connection failed or closed while this exchange was on it.
    func fail(_ error: UpstreamTransportError) {
        cancelReadTimer()
        if error == .closedBeforeResponse, headPromise != nil, !aborted, let resend = resendOnStale {
            resendOnStale = nil
            connection = nil
            resend()
            return
        }
        resendOnStale = nil
        if let promise = headPromise {
            headPromise = nil
            promise.fail(error)
            return
        }
        if ended || failure != nil { return }
        failure = error
        if relay != nil {
            finishRelay(.failure(error))
        }
    }

    // MARK: Internals

    private func pass(_ upstreamChunk: ByteBuffer, _ relay: Relay) {
        guard let chunk = relay.observer.pass(upstreamChunk), chunk.readableBytes > 0, let target = relay.target else { return }
        relay.unflushed += chunk.readableBytes
        let part = HTTPServerResponsePart.body(.byteBuffer(chunk))
        if target.isWritable || relay.waitingForWrite {
            target.write(part, promise: nil)
            return
        }
        // The agent reads slower than the upstream sends: stop reading upstream until this write is out.
        relay.waitingForWrite = true
        connection?.pauseReads()
        let written = loop.makePromise(of: Void.self)
        target.write(part, promise: written)
        target.flush()
        relay.unflushed = 0
        written.futureResult.whenComplete { [weak self] _ in
            relay.waitingForWrite = false
            // The pause was the router's, not the upstream's: its silence is counted from now.
            self?.lastActivity = .now()
            self?.connection?.resumeReads()
        }
    }

    private func finishRelay(_ result: Result<Void, UpstreamTransportError>) {
        guard let relay else { return }
        self.relay = nil
        cancelReadTimer()
        switch result {
        case .success:
            if let tail = relay.observer.finish(), tail.readableBytes > 0 {
                relay.target?.write(HTTPServerResponsePart.body(.byteBuffer(tail)), promise: nil)
            }
            relay.done.succeed(())
        case .failure(let error): relay.done.fail(error)
        }
    }

    /// One timer per exchange while its body is outstanding, checked against the time of the last read
    /// rather than re-armed on every chunk.
    private func armReadTimer() {
        guard readTimer == nil else { return }
        schedule(in: readTimeout)
    }

    private func schedule(in amount: TimeAmount) {
        readTimer = loop.scheduleTask(in: amount) { [weak self] in
            self?.readTimerFired()
        }
    }

    private func readTimerFired() {
        readTimer = nil
        guard !ended, failure == nil else { return }
        if relay?.waitingForWrite == true {
            // Reading is paused because the agent reads slowly: the upstream is not silent, it is held back.
            schedule(in: readTimeout)
            return
        }
        let silent = NIODeadline.now() - lastActivity
        if silent < readTimeout {
            schedule(in: readTimeout - silent)
            return
        }
        let connection = self.connection
        fail(.readTimeout)
        connection?.close()
    }

    private func cancelReadTimer() {
        readTimer?.cancel()
        readTimer = nil
    }
}

/// The response head as the caller sees it; the body stays with the exchange.
struct UpstreamResponseHead: Sendable {
    let status: HTTPResponseStatus
    let headers: HTTPHeaders
}

/// A request ready for the wire: target is the path and query; headers carry the credential (the client adds
/// Host for the origin, the connection Content-Length for the body).
struct UpstreamRequest: Sendable {
    var target: String
    var headers: HTTPHeaders
    var body: ByteBuffer
    /// POST for model calls; the MCP gateway also relays GET (the server's stream) and DELETE (end of a session).
    var method: HTTPMethod = .POST
}
