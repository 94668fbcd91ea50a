#if canImport(Glibc)
import AirlockJSON
import Glibc
#endif
import AirlockPolicy
import AirlockReceipts
import Logging
import NIOCore
import NIOHTTP1

/// The request path: identity → admission → intent receipt → upstream (retry, breaker, failover) →
/// streamed response → completion receipt. Data flows one way; each refusal is a provider-shaped error
/// and a denial receipt.
final class RequestPipeline: Sendable {
    let holder: RuntimeHolder
    let logger: Logger

    init(holder: RuntimeHolder, logger: Logger) {
        self.holder = holder
        self.logger = logger
    }

    func handle(_ request: InboundRequest, sink: ResponseSink) async {
        let runtime = holder.current
        let endpoint = Endpoint.match(method: request.head.method.rawValue, path: request.path)
        let status = await handle(request, endpoint: endpoint, sink: sink, runtime: runtime)
        let route = endpoint?.rawValue ?? (request.path.hasPrefix(MCPGateway.pathPrefix) ? MCPGateway.route : Denial.unknownRoute)
        runtime.metrics.request(route: route, status: status, sandbox: request.peer.sandbox?.name ?? "")
    }

    /// Serves one request; returns the status the agent was given.
    private func handle(
        _ request: InboundRequest,
        endpoint: Endpoint?,
        sink: ResponseSink,
        runtime: RouterRuntime
    ) async -> Int {
        let head = request.head
        let requestID = RequestIDs.accept(head.headers.first(name: "x-request-id"))
        let trace = TraceHop(traceparent: head.headers.first(name: "traceparent"), tracestate: head.headers.first(name: "tracestate"))
        let common = ResponseSink.Common(requestID: requestID, traceparent: trace.traceparent)
        var logger = self.logger
        logger[metadataKey: "request.id"] = "\(requestID)"
        logger[metadataKey: "trace.id"] = "\(trace.traceID)"

        let path = request.path
        let family: APIFamily = path.hasPrefix("/v1/messages") ? .anthropic : .openai
        var denial = Denial(runtime: runtime, peer: request.peer, route: endpoint?.rawValue ?? Denial.unknownRoute, traceID: trace.traceID, family: family, common: common, sink: sink)
        let isMCP = endpoint == nil && path.hasPrefix(MCPGateway.pathPrefix)
        if isMCP {
            denial.route = MCPGateway.route
            denial.kind = .mcp
        } else if endpoint == nil {
            denial.unknownPath = "\(head.method.rawValue) \(path)"
        }

        // The rate limit comes before any other work, refusals included: past it, a flood is counted, not
        // recorded request by request (see FloodTally).
        if let refusal = runtime.limiters.admitRate(sandbox: request.peer.sandbox?.name) {
            return await denial.refusePastLimit(refusal, logger: logger)
        }
        if endpoint == nil && !isMCP {
            return await denial.refuse(.notFound("\(head.method.rawValue) \(path.prefix(256))"), logger: logger)
        }
        guard let sandbox = request.peer.sandbox else {
            return await denial.refuse(.forbiddenPeer, logger: logger)
        }
        logger[metadataKey: "sandbox.name"] = "\(sandbox.name)"
        guard let policy = runtime.sandboxes[sandbox.name] else {
            // The connection was admitted as a sandbox a reload has since removed or renamed: it belongs to no
            // sandbox now. Refused, and closed so the next request is identified afresh.
            denial.sink = ResponseSink(channel: sink.channel, keepAlive: false)
            return await denial.refuse(
                RouterError(status: 403, reason: "unknown_sandbox", message: "Sandbox \"\(sandbox.name)\" is no longer configured; reconnect."),
                logger: logger
            )
        }
        guard let endpoint else {
            return await handleMCP(request, sandbox: sandbox, policy: policy, denial: denial, trace: trace, logger: logger, runtime: runtime)
        }

        if endpoint == .models || endpoint == .model {
            return await answerModels(request, endpoint: endpoint, policy: policy, denial: denial, logger: logger, runtime: runtime)
        }
        if let refusal = runtime.checkContentType(head.headers) {
            return await denial.refuse(refusal, logger: logger)
        }
        let shape: RequestShape
        do {
            shape = try RequestShape.parse(endpoint, body: Array(buffer: request.body))
        } catch {
            return await denial.refuse(error, logger: logger)
        }
        denial.model = shape.model
        guard policy.allows(model: shape.model), let route = runtime.routes[shape.model] else {
            return await denial.refuse(
                RouterError(status: 403, reason: "model_not_allowed", message: "The model \"\(shape.model)\" is not available to sandbox \"\(sandbox.name)\"."),
                logger: logger
            )
        }
        guard route.api == endpoint.family else {
            return await denial.refuse(
                .badRequest("wrong_api", "The model \"\(shape.model)\" is served through the \(route.api.rawValue) API, not \(endpoint.path)."),
                logger: logger
            )
        }
        if let refusal = shape.features.refusal(policy: policy, headers: head.headers) {
            return await denial.refuse(refusal, logger: logger)
        }
        var rewrite = RequestShape.Rewrite(model: nil, maxTokensCap: nil, includeUsage: true)
        if let cap = policy.maxTokens {
            if cap.onExceed == .reject, let over = shape.maxTokenFields.first(where: { $0.value > cap.cap }) {
                return await denial.refuse(
                    .badRequest("max_tokens_exceeded", "\"\(over.name)\" is \(over.value); sandbox \"\(sandbox.name)\" allows at most \(cap.cap)."),
                    logger: logger
                )
            }
            rewrite.maxTokensCap = cap.cap
        }
        var worstCase = 0
        if runtime.budgets.hasBudget(tenant: sandbox.tenant) && endpoint != .countTokens {
            let features = shape.features
            let unbounded = UnboundedInputs(shape)
            // A provider-side tool's results (search hits, fetched pages, MCP answers) join the prompt unseen.
            let providerSide = features.providerTools.count + (features.mcpServers ? 1 : 0) + (features.webSearchOptions ? 1 : 0)
            let pieces = unbounded.count + providerSide
            if pieces > 0 && policy.budget.unboundedInputAllowance == nil {
                let field = unbounded.first.map { "\"\($0)\"" } ?? "A provider-side tool"
                return await denial.refuse(
                    .badRequest(
                        "unbounded_input",
                        "\(field) adds prompt the request body does not hold, so its cost cannot be bounded against tenant \"\(sandbox.tenant)\"'s budget; "
                            + "sandbox \"\(sandbox.name)\" has no budget.unbounded_input_allowance."
                    ),
                    logger: logger
                )
            }
            let output = BudgetHold.outputCap(shape, rewrite: &rewrite, defaultOutput: policy.budget.defaultOutputTokens)
            worstCase = BudgetHold.worstCase(
                bodyBytes: request.body.readableBytes,
                unbounded: pieces,
                allowance: policy.budget.unboundedInputAllowance ?? 0,
                outputCap: output,
                choices: features.choices
            )
        }
        let slot: SlotLease
        switch runtime.limiters.leaseSlot(sandbox: sandbox.name) {
        case .success(let lease): slot = lease
        case .failure(let refusal): return await denial.refuse(refusal, logger: logger)
        }
        defer { slot.release() }
        var hold: BudgetHold
        do {
            hold = try await BudgetHold.reserve(runtime.budgets, tenant: sandbox.tenant, worstCase: worstCase, now: WallClock.nanoseconds() / 1_000_000_000)
        } catch {
            return await denial.refuse(error, logger: logger)
        }

        let status = await forward(
            request: request,
            endpoint: endpoint,
            shape: shape,
            rewrite: rewrite,
            route: route,
            sandbox: sandbox,
            trace: trace,
            denial: denial,
            hold: &hold,
            slot: slot,
            logger: logger,
            runtime: runtime
        )
        // Whatever ended the request, its hold is released: to nothing if no attempt reached the provider.
        await settle(&hold, usage: nil, logger: logger)
        return status
    }

    private func settle(_ hold: inout BudgetHold, usage: Int?, logger: Logger) async {
        do {
            try await hold.settle(usage: usage, now: WallClock.nanoseconds() / 1_000_000_000)
        } catch {
            logger.error("budget settlement failed", metadata: ["error": "\(error)"])
        }
    }

    /// The status recorded for a request whose agent left before its answer was complete (nginx's 499).
    static let agentLeft: Int64 = 499

    private func forward(
        request: InboundRequest,
        endpoint: Endpoint,
        shape: RequestShape,
        rewrite: RequestShape.Rewrite,
        route: RouterRuntime.Route,
        sandbox: SandboxIdentity,
        trace: TraceHop,
        denial: Denial,
        hold: inout BudgetHold,
        slot: SlotLease,
        logger: Logger,
        runtime: RouterRuntime
    ) async -> Int {
        let receipts = runtime.receipts
        let first = route.targets.first!.0
        var intent = Receipt.router(
            .request,
            peer: request.peer,
            route: endpoint.rawValue,
            decision: "allow",
            reason: "admitted",
            traceID: trace.traceID
        )
        intent.provider = first.config.kind.rawValue
        intent.upstream = first.host
        intent.model = shape.model
        guard let requestIndex = await denial.appendIntent(&intent, body: request.body, slot: slot, logger: logger) else {
            return 503
        }

        var headers = HeaderPolicy.forwardRequest(request.head.headers)
        headers.replaceOrAdd(name: "traceparent", value: trace.traceparent)
        if let state = trace.tracestate, !state.isEmpty { headers.replaceOrAdd(name: "tracestate", value: state) }
        headers.replaceOrAdd(name: "x-request-id", value: denial.common.requestID)
        if headers.first(name: "content-type") == nil { headers.add(name: "content-type", value: "application/json") }

        var completion = intent
        completion.kind = .completion
        completion.requestIndex = requestIndex
        completion.requestHMAC = nil
        let started = DispatchTimeNanos.now()

        let attempted: UpstreamCaller.Attempted
        do {
            attempted = try await runtime.caller.call(
                .init(endpoint: endpoint, shape: shape, rewrite: rewrite, headers: headers, eventLoop: denial.sink.channel.eventLoop),
                targets: route.targets,
                budget: &hold,
                logger: logger
            )
        } catch let error as RouterError {
            completion.decision = "error"
            completion.reason = error.reason
            completion.status = Int64(error.status)
            completion.latencyMicroseconds = Int64((DispatchTimeNanos.now() - started) / 1000)
            await appendCompletion(completion, logger: logger, runtime: runtime)
            slot.release()
            await denial.sink.error(error, family: endpoint.family, common: denial.common)
            return error.status
        } catch {
            completion.decision = "error"
            completion.reason = "agent_disconnected"
            completion.status = Self.agentLeft
            completion.latencyMicroseconds = Int64((DispatchTimeNanos.now() - started) / 1000)
            await appendCompletion(completion, logger: logger, runtime: runtime)
            return 499
        }
        completion.provider = attempted.upstream.config.kind.rawValue
        completion.upstream = attempted.upstream.host
        completion.attempts = Int64(attempted.attempts)
        let status = Int(attempted.head.status.code)
        completion.status = Int64(status)

        var responseHeaders = HTTPHeaders()
        for (name, value) in attempted.head.headers where HeaderPolicy.isResponseAllowed(name) && name.lowercased() != "x-request-id" {
            responseHeaders.add(name: name, value: value)
        }
        let streaming = shape.stream && status == 200
        // A complete answer passes unchanged, so it keeps the provider's framing: its length, not chunks. Streams
        // (filtered) and error bodies (scrubbed) may change length and go chunked.
        let lengths = attempted.head.headers[canonicalForm: "content-length"]
        if !shape.stream && status < 400 && lengths.count == 1, let length = Int(lengths[0]), length >= 0 {
            responseHeaders.add(name: "content-length", value: String(length))
        }
        let observer = ResponseObserver(
            usage: UsageReader(endpoint: endpoint, streaming: streaming),
            digest: receipts.bodyHasher(),
            filter: streaming ? StreamEventFilter(endpoint: endpoint, dropInjectedUsage: !shape.agentAskedForUsage) : nil,
            scrubber: status >= 400 ? attempted.upstream.provider.credential.flatMap { KeyScrubber(secret: $0.secret) } : nil
        )
        var outcome = "ok"
        var reason = status < 400 ? "completed" : "upstream_status"
        let sink = denial.sink
        let exchange = attempted.exchange
        do {
            // The body goes from the upstream connection to the agent's on this event loop; a stream is
            // flushed as each piece arrives, a complete response leaves in one write with its final part.
            let head = sink.head(status: HTTPResponseStatus(statusCode: status), headers: responseHeaders, common: denial.common)
            try await withTaskCancellationHandler {
                try await exchange.relay(head: head, to: sink.channel, flushEachRead: shape.stream, observer: observer).get()
            } onCancel: {
                exchange.loop.execute { exchange.abort() }
            }
        } catch {
            outcome = "error"
            if Task.isCancelled || !sink.channel.isActive {
                reason = "agent_disconnected"
                completion.status = Self.agentLeft
            } else {
                reason = "upstream_body_failed"
                logger.info("upstream body failed", metadata: ["error": "\(UpstreamCaller.describe(error))"])
            }
        }
        if streaming {
            // The stream's content goes out while the completion receipt is written; only its end waits.
            sink.channel.flush()
        }
        var usageReader = observer.usage
        let responseDigest = observer.digest
        usageReader.finish()
        let held = observer.takeHeld()
        if usageReader.invalid && outcome == "ok" {
            // A count no request can reach: the upstream (or something between) is broken or lying. The agent
            // gets an incomplete response and the tenant is charged the most one request can cost.
            outcome = "error"
            reason = "upstream_usage_invalid"
            logger.warning("upstream reported impossible usage", metadata: ["upstream.name": "\(attempted.upstream.name)"])
        }
        if let usage = usageReader.usage {
            completion.tokensIn = Int64(usage.input)
            completion.tokensOut = Int64(usage.output)
        }
        // Usage counts only for an answer that came whole: a stream cut by the agent or the upstream, or usage that
        // is missing or impossible, is charged the reservation (the provider bills what it generated).
        hold.spent = BudgetHold.mayHaveGenerated(status: status)
        await settle(&hold, usage: outcome == "ok" ? usageReader.usage?.total : nil, logger: logger)
        completion.decision = outcome
        completion.reason = reason
        completion.responseHMAC = responseDigest?.finalize()
        completion.latencyMicroseconds = Int64((DispatchTimeNanos.now() - started) / 1000)
        let recorded = await appendCompletion(completion, logger: logger, runtime: runtime)
        // A non-streamed answer is flushed with its end, and a stream's end is held: either way the agent cannot
        // have a complete answer before this.
        slot.release()
        if outcome == "ok" && recorded {
            // Only now may the agent learn the answer is complete: the final event, then the terminator.
            if let held {
                sink.channel.write(HTTPServerResponsePart.body(.byteBuffer(held)), promise: nil)
            }
            try? await sink.end()
        } else {
            // Without a terminating chunk the agent sees an incomplete response, never a truncated success.
            sink.channel.flush()
            try? await sink.channel.close()
        }
        return reason == "agent_disconnected" ? Int(Self.agentLeft) : status
    }

    /// Appends a completion receipt even if the request's task was cancelled by an agent disconnect.
    @discardableResult
    func appendCompletion(_ completion: Receipt, logger: Logger, runtime: RouterRuntime) async -> Bool {
        var event = completion
        event.time = WallClock.nanoseconds()
        let receipts = runtime.receipts
        do {
            if Task.isCancelled {
                _ = try await Task { try await receipts.append(event) }.value
            } else {
                _ = try await receipts.append(event)
            }
            return true
        } catch {
            logger.error("completion receipt append failed", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// `GET /v1/models` and `GET /v1/models/{id}`, answered by the router: the models the sandbox may use that are
    /// served through the asking SDK's API (Anthropic's when it sends `anthropic-version`), in that API's shape.
    /// Receipted like any request.
    private func answerModels(
        _ request: InboundRequest,
        endpoint: Endpoint,
        policy: SandboxPolicy,
        denial: Denial,
        logger: Logger,
        runtime: RouterRuntime
    ) async -> Int {
        let anthropic = request.head.headers.contains(name: "anthropic-version")
        let family: APIFamily = anthropic ? .anthropic : .openai
        var denial = denial
        denial.family = family
        let names = runtime.modelNames.filter { policy.allows(model: $0) && runtime.routes[$0]?.api == family }
        var id: String?
        if endpoint == .model {
            let asked = String(request.path.dropFirst("/v1/models/".count))
            denial.model = asked
            guard names.contains(asked) else {
                return await denial.refuse(
                    RouterError(status: 404, reason: "model_not_found", message: "The model \"\(asked.prefix(256))\" does not exist or is not available to this sandbox."),
                    logger: logger
                )
            }
            id = asked
        }
        var event = Receipt.router(.request, peer: request.peer, route: endpoint.rawValue, decision: "allow", reason: "served", traceID: denial.traceID)
        event.model = id
        event.status = 200
        do {
            _ = try await runtime.receipts.append(event)
        } catch {
            logger.error("receipt log append failed; refusing request", metadata: ["error": "\(error)"])
            await denial.sink.error(.receiptLogUnavailable, family: family, common: denial.common)
            return 503
        }
        func openAI(_ name: String) -> String {
            "{\"id\":\(JSONText.quoted(name)),\"object\":\"model\",\"created\":0,\"owned_by\":\"airlock\"}"
        }
        func anthropicModel(_ name: String) -> String {
            "{\"type\":\"model\",\"id\":\(JSONText.quoted(name)),\"display_name\":\(JSONText.quoted(name)),\"created_at\":\"1970-01-01T00:00:00Z\"}"
        }
        let body: String
        if let id {
            body = anthropic ? anthropicModel(id) : openAI(id)
        } else if anthropic {
            let firstID = names.first.map(JSONText.quoted) ?? "null"
            let lastID = names.last.map(JSONText.quoted) ?? "null"
            body = "{\"data\":[\(names.map(anthropicModel).joined(separator: ","))],\"has_more\":false,\"first_id\":\(firstID),\"last_id\":\(lastID)}"
        } else {
            body = "{\"object\":\"list\",\"data\":[\(names.map(openAI).joined(separator: ","))]}"
        }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        await denial.sink.full(status: .ok, headers: headers, body: body, common: denial.common)
        return 200
    }

    /// A refusal detected by the connection handler before the body was read (405, 413, 431, framing). Returns
    /// the answer to give: the refusal once its receipt is written, else 503.
    func recordEarlyRefusal(_ refusal: RouterError, peer: PeerIdentity, method: String, uri: String, requestID: String) async -> RouterError {
        let runtime = holder.current
        let path = uri.firstIndex(of: "?").map { uri[..<$0] } ?? uri[...]
        let endpoint = Endpoint.match(method: method, path: path)
        let route = endpoint?.rawValue ?? Denial.unknownRoute
        var refusal = refusal
        if let limited = runtime.limiters.admitRate(sandbox: peer.sandbox?.name) {
            // Past the rate limit the answer is 429, whatever else was wrong, and it may be only counted.
            refusal = limited
            if !Denial.recordsPastLimit(runtime: runtime, peer: peer) {
                runtime.metrics.refusal(reason: refusal.reason, sandbox: peer.sandbox?.name ?? "")
                runtime.metrics.request(route: route, status: refusal.status, sandbox: peer.sandbox?.name ?? "")
                return refusal
            }
        }
        runtime.metrics.refusal(reason: refusal.reason, sandbox: peer.sandbox?.name ?? "")
        let recorded = await Denial.record(
            refusal,
            runtime: runtime,
            peer: peer,
            route: route,
            unknownPath: endpoint == nil ? "\(method) \(path)" : nil,
            model: "",
            traceID: "",
            logger: logger
        )
        let answer = recorded ? refusal : .receiptLogUnavailable
        runtime.metrics.request(route: route, status: answer.status, sandbox: peer.sandbox?.name ?? "")
        return answer
    }
}

/// Sends a refusal and records it as a denial receipt.
struct Denial: Sendable {
    /// The `route` of a request for a path the router does not serve. Receipt fields are bounded, and an agent
    /// must not be able to make an append fail (and so go unrecorded) with a long path: the path itself is
    /// recorded only as a keyed digest in `request_hmac`.
    static let unknownRoute = "unknown"

    let runtime: RouterRuntime
    let peer: PeerIdentity
    var route: String
    let traceID: String
    var family: APIFamily
    let common: ResponseSink.Common
    var sink: ResponseSink
    var model = ""
    /// Method and path of a request for an unknown route, digested into the receipt.
    var unknownPath: String?
    /// `.mcp` for a request to the MCP gateway, whose receipt also names the server, method and tool.
    var kind: ReceiptKind = .request
    var mcp: Receipt.MCP?

    init(runtime: RouterRuntime, peer: PeerIdentity, route: String, traceID: String, family: APIFamily, common: ResponseSink.Common, sink: ResponseSink) {
        self.runtime = runtime
        self.peer = peer
        self.route = route
        self.traceID = traceID
        self.family = family
        self.common = common
        self.sink = sink
    }

    /// Records the refusal, then sends it; a refusal that cannot be recorded is answered 503 like any request
    /// the router cannot record.
    func refuse(_ error: RouterError, logger: Logger) async -> Int {
        logger.info("request refused", metadata: ["refusal.reason": "\(error.reason)", "refusal.status": "\(error.status)"])
        runtime.metrics.refusal(reason: error.reason, sandbox: peer.sandbox?.name ?? "")
        let recorded = await record(error, logger: logger)
        let answer = recorded ? error : .receiptLogUnavailable
        await sink.error(answer, family: family, common: common)
        return answer.status
    }

    /// Appends this request's denial receipt; false when it could not be appended.
    func record(_ error: RouterError, logger: Logger) async -> Bool {
        await Self.record(
            error,
            runtime: runtime,
            peer: peer,
            route: route,
            unknownPath: unknownPath,
            model: model,
            traceID: traceID,
            logger: logger,
            kind: kind,
            mcp: mcp
        )
    }

    /// A refusal past a rate limit: recorded like any other if it is the peer's first this second, else counted into
    /// the batch receipt for this second (written by the router's flush) and only answered.
    func refusePastLimit(_ error: RouterError, logger: Logger) async -> Int {
        guard Self.recordsPastLimit(runtime: runtime, peer: peer) else {
            runtime.metrics.refusal(reason: error.reason, sandbox: peer.sandbox?.name ?? "")
            await sink.error(error, family: family, common: common)
            return error.status
        }
        return await refuse(error, logger: logger)
    }

    /// Appends an admitted request's intent receipt, with the HMAC of its body, and returns its index. When the log
    /// cannot take it the request fails closed: the slot is given back, the agent answered 503, and nil returned, so
    /// nothing goes upstream unrecorded.
    func appendIntent(_ intent: inout Receipt, body: ByteBuffer, slot: SlotLease, logger: Logger) async -> UInt64? {
        var digest = runtime.receipts.bodyHasher()
        body.withUnsafeReadableBytes { digest?.update($0) }
        intent.requestHMAC = digest?.finalize()
        do {
            return try await runtime.receipts.append(intent)
        } catch {
            logger.error("receipt log append failed; refusing request", metadata: ["error": "\(error)"])
            slot.release()
            await sink.error(.receiptLogUnavailable, family: family, common: common)
            return nil
        }
    }

    /// Whether a refusal past the rate limit gets its own receipt (false: it was counted).
    static func recordsPastLimit(runtime: RouterRuntime, peer: PeerIdentity) -> Bool {
        runtime.limiters.flood.note(FloodTally.key(peer), second: WallClock.nanoseconds() / 1_000_000_000)
    }

    /// Appends the denial receipt for a refused request; false when it could not be appended.
    static func record(
        _ error: RouterError,
        runtime: RouterRuntime,
        peer: PeerIdentity,
        route: String,
        unknownPath: String?,
        model: String,
        traceID: String,
        logger: Logger,
        kind: ReceiptKind = .request,
        mcp: Receipt.MCP? = nil
    ) async -> Bool {
        var event = Receipt.router(kind, peer: peer, route: route, decision: "deny", reason: error.reason, traceID: traceID)
        event.mcp = mcp
        // An unlisted model name is the agent's text: one too long for a receipt field is left out, never a failed append.
        event.model = model.isEmpty || model.utf8.count > Receipt.maxStringBytes ? nil : model
        event.status = Int64(error.status)
        if let unknownPath, var digest = runtime.receipts.bodyHasher() {
            digest.update(Array(unknownPath.utf8))
            event.requestHMAC = digest.finalize()
        }
        do {
            _ = try await runtime.receipts.append(event)
            return true
        } catch {
            logger.error("denial receipt append failed; answering 503", metadata: ["error": "\(error)"])
            return false
        }
    }
}

/// Reads token usage and digests the response body as it passes to the agent. Lives on the agent
/// connection's event loop, where the relay calls it and the request task reads it afterwards.
/// Usage is read from the upstream's bytes; the digest covers the bytes the agent is given.
final class ResponseObserver: UpstreamBodyObserver, @unchecked Sendable {
    var usage: UsageReader
    var digest: BodyHasher?
    /// For streams: what the router takes out, and the final event it holds back (see StreamEventFilter).
    var filter: StreamEventFilter?
    /// For error answers: the body is held whole and scrubbed of anything resembling the injected key.
    let scrubber: KeyScrubber?
    private var errorBody: [UInt8] = []
    private var errorBodyTooLong = false
    /// For a whole answer passed unchanged: its last byte so far. With a Content-Length the agent has the answer
    /// complete once it has every byte, so the last one is written only after the completion receipt, whatever
    /// the relay flushed before (past its threshold, or under back-pressure).
    private var lastByte: UInt8?
    /// For streams: CR and CRLF line ends made LF before anything reads them (see SSELineEndings).
    private var lineEndings = SSELineEndings()

    init(usage: UsageReader, digest: BodyHasher?, filter: StreamEventFilter?, scrubber: KeyScrubber?) {
        self.usage = usage
        self.digest = digest
        self.filter = filter
        self.scrubber = scrubber
    }

    func pass(_ chunk: ByteBuffer) -> ByteBuffer? {
        var chunk = chunk
        if filter != nil, scrubber == nil, let normalized = lineEndings.normalize(chunk) { chunk = normalized }
        chunk.withUnsafeReadableBytes { usage.consume($0) }
        if scrubber != nil {
            if errorBody.count + chunk.readableBytes > KeyScrubber.maxBody {
                errorBodyTooLong = true
                errorBody = []
            } else if !errorBodyTooLong {
                errorBody.append(contentsOf: chunk.readableBytesView)
            }
            return nil
        }
        guard filter != nil else {
            chunk.withUnsafeReadableBytes { digest?.update($0) }
            guard let last = chunk.getInteger(at: chunk.readerIndex + chunk.readableBytes - 1, as: UInt8.self) else { return chunk }
            let rest = chunk.getSlice(at: chunk.readerIndex, length: chunk.readableBytes - 1)!
            guard let previous = lastByte else {
                // The first piece (for most answers the only one) is passed on without a copy.
                lastByte = last
                return rest
            }
            var out = ByteBuffer()
            out.reserveCapacity(chunk.readableBytes)
            out.writeInteger(previous)
            out.writeImmutableBuffer(rest)
            lastByte = last
            return out
        }
        var out: [UInt8] = []
        chunk.withUnsafeReadableBytes { filter!.feed($0, into: &out) }
        return emit(out)
    }

    func finish() -> ByteBuffer? {
        if let scrubber {
            // An error body too long to examine is not passed on: the status and headers still tell the agent.
            var body = errorBodyTooLong ? Array(#"{"error":{"message":"The upstream's error body was withheld (too long to check for credentials).","type":"api_error"}}"#.utf8) : errorBody
            scrubber.scrub(&body)
            return emit(body)
        }
        guard filter != nil else { return nil }
        var out: [UInt8] = []
        filter!.finish(into: &out)
        return emit(out)
    }

    /// The held-back end of the stream, digested now: it is the last thing the agent gets.
    func takeHeld() -> ByteBuffer? {
        if filter == nil, scrubber == nil, let lastByte {
            // Digested with the chunk it came in.
            return ByteBuffer(integer: lastByte)
        }
        guard let held = filter?.held, !held.isEmpty else { return nil }
        digest?.update(held)
        return ByteBuffer(bytes: held)
    }

    private func emit(_ out: [UInt8]) -> ByteBuffer? {
        guard !out.isEmpty else { return nil }
        digest?.update(out)
        return ByteBuffer(bytes: out)
    }
}
