import NIOCore
import NIOHTTP1

/// Lets one request at a time through to the connection handler (HTTP/1.1 pipelining, RFC 9112 §9.3.2): parts
/// of a request that arrives while the previous response is still being written wait here, in order, and are
/// delivered once that response's `.end` has been written.
///
/// Unlike a gate that stops reading whenever a response is pending, this one keeps the socket's read interest
/// while nothing is queued, which is the normal case (clients wait for the response before sending the next
/// request): that saves two `epoll_ctl` calls per request. It stops reading as soon as anything is queued, so at
/// most one read's worth of pipelined bytes is ever held.
final class RequestGate: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Queued {
        case part(NIOAny)
        case error(any Error)
    }

    /// Where the request being served is. A response may end before its request does (a refusal while the body
    /// is still arriving): the rest of that request is delivered, and the next one starts from `.idle`.
    private enum State {
        case idle
        /// The request's head was delivered; its body and end pass straight through.
        case receiving(responseEnded: Bool)
        /// The request was delivered whole and its response has not ended: anything arriving now waits.
        case awaitingResponse
    }

    private var state = State.idle
    private var queue = CircularBuffer<Queued>(initialCapacity: 4)
    private var readPending = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if queue.isEmpty, !isWaiting {
            deliver(context: context, data)
        } else {
            queue.append(.part(data))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if queue.isEmpty, !isWaiting {
            context.fireErrorCaught(error)
        } else {
            queue.append(.error(error))
        }
    }

    // A half-close is not queued: it goes straight to the connection handler, for which it means the agent left
    // if a response is in flight (that request is cancelled and the connection closed, with whatever is queued
    // behind it), and that the connection ends once the last response is out if none is.

    func read(context: ChannelHandlerContext) {
        if queue.isEmpty {
            context.read()
        } else {
            readPending = true
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let isEnd: Bool
        if case .end = unwrapOutboundIn(data) { isEnd = true } else { isEnd = false }
        context.write(data, promise: promise)
        guard isEnd else { return }
        switch state {
        case .awaitingResponse:
            state = .idle
            drain(context: context)
        case .receiving:
            state = .receiving(responseEnded: true)
        case .idle:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Nothing queued can be answered any more.
        queue.removeAll()
        readPending = false
        context.fireChannelInactive()
    }

    private var isWaiting: Bool {
        if case .awaitingResponse = state { return true }
        return false
    }

    private func deliver(context: ChannelHandlerContext, _ data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            state = .receiving(responseEnded: false)
        case .body:
            break
        case .end:
            if case .receiving(responseEnded: true) = state {
                state = .idle
            } else {
                state = .awaitingResponse
            }
        }
        context.fireChannelRead(data)
    }

    /// Delivers queued events until a whole request has gone through (and now waits for its response) or the
    /// queue is empty; then resumes reading if a read was held back.
    private func drain(context: ChannelHandlerContext) {
        while !isWaiting, let next = queue.popFirst() {
            switch next {
            case .part(let data):
                deliver(context: context, data)
            case .error(let error):
                context.fireErrorCaught(error)
            }
        }
        if queue.isEmpty, readPending {
            readPending = false
            context.read()
        }
    }
}
