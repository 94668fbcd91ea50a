import AirlockPolicy
import AirlockReceipts
import Logging
import NIOCore
import NIOHTTP1

/// The MCP gateway: `/mcp/<server>` on the agent listener, relayed to the server over Streamable HTTP with the
/// router's credential, under the sandbox's policy, with an `mcp` receipt for every request.
enum MCPGateway {
    static let pathPrefix = "/mcp/"
    /// The route receipts and metrics give MCP requests.
    static let route = "mcp"
    /// JSON-RPC error code of a message the sandbox's policy refuses (the implementation-defined server-error range).
    static let policyErrorCode = -32001
    /// JSON-RPC error code of a message that is not valid JSON-RPC (`Invalid Request`).
    static let invalidRequestCode = -32600

    /// The method as a metric label: a few fixed values, never the agent's text.
    static func metricMethod(_ method: String) -> String {
        ["initialize", "tools/list", "tools/call"].contains(method) ? method : "other"
    }
}

extension RequestPipeline {
    /// Serves one request to `/mcp/<server>`; returns the status the agent was given.
    func handleMCP(
        _ request: InboundRequest,
        sandbox: SandboxIdentity,
        policy: SandboxPolicy,
        denial: Denial,
        trace: TraceHop,
        logger: Logger,
        runtime: RouterRuntime
    ) async -> Int {
        var denial = denial
        var logger = logger
        let name = String(request.path.dropFirst(MCPGateway.pathPrefix.count))
        guard let server = runtime.mcp.byName[name] else {
            denial.unknownPath = "\(request.head.method.rawValue) \(request.path)"
            return await denial.refuse(
                RouterError(
                    status: 404,
                    reason: "mcp_server_not_found",
                    message:
                        "No MCP server \"\(name.prefix(64))\" is configured on this router; the path is /mcp/<server> with a name from mcp_servers."
                ),
                logger: logger
            )
        }
        logger[metadataKey: "mcp.server"] = "\(name)"
        denial.mcp = Receipt.MCP(server: name)
        let method = request.head.method
        denial.mcp?.method = method == .GET ? "stream" : method == .DELETE ? "session_end" : nil
        func refuse(_ error: RouterError) async -> Int {
            runtime.metrics.mcp(
                server: name, method: MCPGateway.metricMethod(denial.mcp?.method ?? ""), outcome: "deny")
            return await denial.refuse(error, logger: logger)
        }
        guard let access = policy.mcpAccess(name) else {
            return await refuse(
                RouterError(
                    status: 403,
                    reason: "mcp_server_not_allowed",
                    message:
                        "Sandbox \"\(sandbox.name)\" may not use MCP server \"\(name)\": its policy's `mcp` list does not name it."
                )
            )
        }
        if let limited = runtime.mcp.admitRate(sandbox: sandbox.name, server: name) {
            return await refuse(limited)
        }
        let sessionIDs = request.head.headers["mcp-session-id"]
        if sessionIDs.count > 1 {
            return await refuse(
                RouterError(
                    status: 400,
                    reason: "mcp_session_ambiguous",
                    message: "The request carries \(sessionIDs.count) Mcp-Session-Id headers; send one."
                )
            )
        }
        if let id = sessionIDs.first, server.sessions.withLock({ $0.owner(of: id) }) != sandbox.name {
            return await refuse(
                RouterError(
                    status: 404,
                    reason: "mcp_session_not_found",
                    message:
                        "MCP server \"\(name)\" has no session with this Mcp-Session-Id opened by sandbox \"\(sandbox.name)\" through this router; start a new session with initialize."
                )
            )
        }
        var message: MCPMessage?
        if method == .POST {
            if let refusal = runtime.checkContentType(request.head.headers) {
                return await refuse(refusal)
            }
            switch MCPMessage.parse(Array(buffer: request.body)) {
            case .failure(let refusal): return await refuse(refusal)
            case .success(let parsed): message = parsed
            }
        }
        if let message {
            denial.mcp?.method = message.recorded
            if let tool = message.tool {
                denial.mcp?.tool = tool
                let listed = server.listed.withLock { $0[tool] }
                denial.mcp?.toolDigest = listed
                if let refusal = Self.toolRefusal(
                    tool, listed: listed, access: access, sandbox: sandbox.name, server: name)
                {
                    return await refuseCall(message, refusal, denial: denial, logger: logger, runtime: runtime)
                }
            }
        }

        let slot: SlotLease
        switch runtime.limiters.leaseSlot(sandbox: sandbox.name) {
        case .success(let lease): slot = lease
        case .failure(let refusal): return await refuse(refusal)
        }
        defer { slot.release() }
        if case .refused(let wait) = server.breaker.acquire() {
            let seconds = max(1, Int64((Double(wait.nanoseconds) / 1e9).rounded(.up)))
            return await refuse(
                RouterError(
                    status: 503,
                    reason: "mcp_server_unavailable",
                    message:
                        "MCP server \"\(name)\" is failing and its circuit breaker is open; try again in \(seconds) s.",
                    retryAfterSeconds: seconds
                )
            )
        }
        return await forwardMCP(
            request,
            sandbox: sandbox.name,
            message: message,
            server: server,
            access: access,
            denial: denial,
            trace: trace,
            slot: slot,
            logger: logger,
            runtime: runtime
        )
    }

    /// Why `tools/call` of `tool` is refused, or nil: not on the sandbox's list, or pinned and not (or no longer)
    /// listed with the pinned definition.
    static func toolRefusal(_ tool: String, listed: String?, access: MCPAccess, sandbox: String, server: String)
        -> RouterError?
    {
        let shown = tool.prefix(64)
        guard access.allows(tool: tool) else {
            return RouterError(
                status: 403,
                reason: "mcp_tool_not_allowed",
                message:
                    "The tool \"\(shown)\" of MCP server \"\(server)\" is not allowed for sandbox \"\(sandbox)\" by its policy (`tools` of its `mcp` entry for \"\(server)\")."
            )
        }
        guard let pin = access.pins[tool] else { return nil }
        guard let listed else {
            return RouterError(
                status: 403,
                reason: "mcp_tool_pin_unverified",
                message:
                    "The tool \"\(shown)\" of MCP server \"\(server)\" is pinned for sandbox \"\(sandbox)\" and the router has not seen its definition yet; list the tools (tools/list) first."
            )
        }
        guard listed == pin else {
            return RouterError(
                status: 403,
                reason: "mcp_tool_pin_mismatch",
                message:
                    "The definition of tool \"\(shown)\" of MCP server \"\(server)\" changed (digest \(listed), pinned \(pin)); it is refused until an operator re-approves it (`pins` of sandbox \"\(sandbox)\"'s `mcp` entry for \"\(server)\")."
            )
        }
        return nil
    }

    /// A message the policy refuses: recorded as a denial, answered as a JSON-RPC error (HTTP 200) naming the policy.
    private func refuseCall(
        _ message: MCPMessage, _ refusal: RouterError, denial: Denial, logger: Logger, runtime: RouterRuntime
    ) async -> Int {
        logger.info("MCP call refused", metadata: ["refusal.reason": "\(refusal.reason)"])
        runtime.metrics.refusal(reason: refusal.reason, sandbox: denial.peer.sandbox?.name ?? "")
        runtime.metrics.mcp(
            server: denial.mcp?.server ?? "", method: MCPGateway.metricMethod(message.recorded), outcome: "deny")
        guard await denial.record(refusal, logger: logger) else {
            await denial.sink.error(.receiptLogUnavailable, family: .openai, common: denial.common)
            return RouterError.receiptLogUnavailable.status
        }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        await denial.sink.full(
            status: .ok, headers: headers, body: message.errorAnswer(code: MCPGateway.policyErrorCode, refusal),
            common: denial.common)
        return 200
    }

    private func forwardMCP(
        _ request: InboundRequest,
        sandbox: String,
        message: MCPMessage?,
        server: MCPServer,
        access: MCPAccess,
        denial: Denial,
        trace: TraceHop,
        slot: SlotLease,
        logger: Logger,
        runtime: RouterRuntime
    ) async -> Int {
        let receipts = runtime.receipts
        let name = server.config.name
        let metricMethod = MCPGateway.metricMethod(denial.mcp?.method ?? "")
        var intent = Receipt.router(
            .mcp, peer: request.peer, route: MCPGateway.route, decision: "allow", reason: "admitted",
            traceID: trace.traceID)
        intent.upstream = server.host
        intent.mcp = denial.mcp
        guard let requestIndex = await denial.appendIntent(&intent, body: request.body, slot: slot, logger: logger)
        else {
            server.breaker.releaseProbe()
            return 503
        }
        var completion = intent
        completion.requestIndex = requestIndex
        completion.requestHMAC = nil
        let started = DispatchTimeNanos.now()
        func finish(_ decision: String, _ reason: String, status: Int) async -> Bool {
            completion.decision = decision
            completion.reason = reason
            completion.status = Int64(status)
            completion.latencyMicroseconds = Int64((DispatchTimeNanos.now() - started) / 1000)
            runtime.metrics.mcp(server: name, method: metricMethod, outcome: decision)
            return await appendCompletion(completion, logger: logger, runtime: runtime)
        }

        var headers = HeaderPolicy.forwardRequest(request.head.headers, allowed: HeaderPolicy.mcpRequestAllowed)
        headers.replaceOrAdd(name: "traceparent", value: trace.traceparent)
        headers.replaceOrAdd(name: "x-request-id", value: denial.common.requestID)
        if let credential = server.credentialHeader {
            headers.replaceOrAdd(name: credential.name, value: credential.value)
        }
        let method = request.head.method
        let timeouts = server.config.timeouts
        let sink = denial.sink
        let loop = sink.channel.eventLoop
        func send(_ headers: HTTPHeaders) async throws -> (UpstreamResponseHead, UpstreamExchange) {
            try await runtime.mcp.client.execute(
                UpstreamRequest(
                    target: server.target, headers: headers, body: method == .POST ? request.body : ByteBuffer(),
                    method: method),
                origin: server.origin,
                on: loop,
                headDeadline: .now() + .nanoseconds(timeouts.responseHeaders.nanoseconds),
                readTimeout: .nanoseconds(timeouts.idle.nanoseconds)
            )
        }
        func fail(_ refusal: RouterError) async -> Int {
            _ = await finish("error", refusal.reason, status: refusal.status)
            slot.release()
            await sink.error(refusal, family: .openai, common: denial.common)
            return refusal.status
        }
        func tokenFailure(_ error: any Error) -> RouterError {
            logger.warning("MCP access token unavailable", metadata: ["error": "\(error)"])
            return RouterError(
                status: 502,
                reason: "mcp_token_unavailable",
                message:
                    "The router could not get an access token for MCP server \"\(name)\" (\(error)); an operator must check its oauth settings."
            )
        }
        var token: String?
        if let tokens = server.tokens {
            do {
                token = try await tokens.bearer(client: runtime.mcp.client, on: loop)
            } catch {
                server.breaker.releaseProbe()
                return await fail(tokenFailure(error))
            }
            headers.replaceOrAdd(name: "authorization", value: "Bearer \(token ?? "")")
        }
        var head: UpstreamResponseHead
        var exchange: UpstreamExchange
        do {
            (head, exchange) = try await send(headers)
            if head.status == .unauthorized, let tokens = server.tokens, let used = token {
                // The server refused a token the router thought valid (revoked, or expired early): one new token
                // and one more try; a second 401 is the operator's to fix.
                exchange.discard()
                do {
                    token = try await tokens.bearer(client: runtime.mcp.client, on: loop, rejected: used)
                } catch {
                    server.breaker.releaseProbe()
                    return await fail(tokenFailure(error))
                }
                headers.replaceOrAdd(name: "authorization", value: "Bearer \(token ?? "")")
                (head, exchange) = try await send(headers)
            }
        } catch {
            if error is CancellationError || Task.isCancelled {
                server.breaker.releaseProbe()
                _ = await finish("error", "agent_disconnected", status: Int(Self.agentLeft))
                return Int(Self.agentLeft)
            }
            server.breaker.recordFailure()
            logger.info("MCP server unreachable", metadata: ["error": "\(UpstreamCaller.describe(error))"])
            return await fail(
                RouterError(
                    status: 502,
                    reason: "mcp_server_unreachable",
                    message: "MCP server \"\(name)\" could not be reached (\(UpstreamCaller.describe(error)))."
                )
            )
        }
        let status = Int(head.status.code)
        if (200..<300).contains(status) {
            // A session the server opened belongs to the sandbox that asked; one it ended belongs to no one.
            if let sent = request.head.headers.first(name: "mcp-session-id") {
                if method == .DELETE { server.sessions.withLock { $0.end(sent) } }
            } else if let opened = head.headers.first(name: "mcp-session-id") {
                server.sessions.withLock { $0.open(opened, for: sandbox) }
            }
        }
        if status >= 500 {
            server.breaker.recordFailure()
        } else {
            server.breaker.recordSuccess()
        }
        if status == 401 || status == 403 || (300..<400).contains(status) {
            // The agent holds no credential for the server and must not be sent to authenticate or elsewhere:
            // a refused credential or a redirect is the router's problem, never passed on as it is.
            exchange.discard()
            let refusal = RouterError(
                status: 502,
                reason: (300..<400).contains(status) ? "mcp_server_redirected" : "mcp_server_refused_credential",
                message: (300..<400).contains(status)
                    ? "MCP server \"\(name)\" answered with a redirect (\(status)), which the router does not follow; fix its URL in mcp_servers."
                    : "MCP server \"\(name)\" refused the router's credential (\(status)); an operator must renew it."
            )
            return await fail(refusal)
        }

        var responseHeaders = HTTPHeaders()
        for (header, value) in head.headers where HeaderPolicy.mcpResponseAllowed.contains(header.lowercased()) {
            responseHeaders.add(name: header, value: value)
        }
        let eventStream = head.headers.first(name: "content-type")?.lowercased().hasPrefix("text/event-stream") ?? false
        let isList = message?.method == "tools/list" && status == 200
        let keep: ((String, String) -> Bool)? =
            isList
            ? { tool, digest in access.allows(tool: tool) && (access.pins[tool].map { $0 == digest } ?? true) } : nil
        let observer = MCPAnswerObserver(
            eventStream: eventStream,
            keep: keep,
            keepsCopy: message?.tool != nil,
            cap: server.config.maxListBytes,
            digest: receipts.bodyHasher()
        )
        var outcome = "ok"
        var reason = status < 400 ? "completed" : "upstream_status"
        var answered = status
        do {
            let part = sink.head(status: head.status, headers: responseHeaders, common: denial.common)
            let exchange = exchange
            try await withTaskCancellationHandler {
                try await exchange.relay(head: part, to: sink.channel, flushEachRead: eventStream, observer: observer)
                    .get()
            } onCancel: {
                exchange.loop.execute { exchange.abort() }
            }
        } catch {
            outcome = "error"
            if Task.isCancelled || !sink.channel.isActive {
                if observer.answered || method == .GET {
                    // SDKs close an event stream once it has carried their response; the server's stream (GET)
                    // ends when the agent closes it. Neither is an answer the agent lacks.
                    outcome = "ok"
                    reason = observer.answered ? "completed" : "agent_closed_stream"
                } else {
                    reason = "agent_disconnected"
                    answered = Int(Self.agentLeft)
                }
            } else {
                reason = "upstream_body_failed"
                logger.info("MCP server body failed", metadata: ["error": "\(UpstreamCaller.describe(error))"])
            }
        }
        if observer.overflowed && outcome == "ok" {
            outcome = "error"
            reason = "mcp_list_too_large"
            logger.warning(
                "MCP tools/list answer larger than max_list_bytes; cut",
                metadata: ["limit": "\(server.config.maxListBytes)"])
        }
        if observer.unreadable && outcome == "ok" {
            outcome = "error"
            reason = "mcp_list_unreadable"
            logger.warning("MCP tools/list answer not readable as JSON (duplicate members, bad UTF-8); withheld from the agent")
        }
        if isList {
            noteListed(observer.listed, server: server, access: access, logger: logger, runtime: runtime)
        }
        completion.mcp?.isError = observer.isError()
        completion.responseHMAC = observer.digest?.finalize()
        let recorded = await finish(outcome, reason, status: answered)
        slot.release()
        if outcome == "ok" && recorded {
            try? await sink.end()
        } else {
            // Without its terminating chunk the agent sees an incomplete answer, never a truncated success.
            sink.channel.flush()
            try? await sink.channel.close()
        }
        return answered
    }

    /// Records the digests a server listed: a tool seen for the first time, or listed with another definition, is
    /// logged with its digest (what an operator pins), and what was withheld is counted.
    private func noteListed(
        _ listed: [(name: String, digest: String)], server: MCPServer, access: MCPAccess, logger: Logger,
        runtime: RouterRuntime
    ) {
        let name = server.config.name
        let changes: [(String, String?, String)] = server.listed.withLock { known in
            var changes: [(String, String?, String)] = []
            for (tool, digest) in listed where known[tool] != digest {
                changes.append((tool, known[tool], digest))
                known[tool] = digest
            }
            return changes
        }
        for (tool, before, digest) in changes {
            logger.notice(
                before == nil ? "MCP tool definition recorded" : "MCP tool definition changed",
                metadata: [
                    "mcp.tool": "\(tool.prefix(128))", "mcp.tool_digest": "\(digest)",
                    "mcp.previous_digest": "\(before ?? "")",
                ]
            )
        }
        let notAllowed = listed.filter { !access.allows(tool: $0.name) }.count
        let mismatched = listed.filter { tool in
            access.allows(tool: tool.name) && access.pins[tool.name].map { $0 != tool.digest } == true
        }.count
        if notAllowed > 0 { runtime.metrics.mcpToolsWithheld(server: name, reason: "not_allowed", notAllowed) }
        if mismatched > 0 { runtime.metrics.mcpToolsWithheld(server: name, reason: "pin_mismatch", mismatched) }
    }
}
