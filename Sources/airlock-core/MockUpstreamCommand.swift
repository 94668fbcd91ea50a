import AirlockMockUpstream
import ArgumentParser
import Dispatch
import Foundation
import NIOCore

/// `airlock mock-upstream`: serve the OpenAI / Azure OpenAI / Anthropic mock on loopback until SIGINT or SIGTERM.
struct MockUpstreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mock-upstream",
        abstract: "Run a mock OpenAI / Azure OpenAI / Anthropic upstream on loopback, with fault injection.",
        discussion: """
            Control endpoints: POST/GET/DELETE /__mock/faults, GET/DELETE /__mock/requests, GET /__mock/stats.
            Runs until SIGINT or SIGTERM, then exits 0.
            """
    )

    @Option(help: "Listen address; loopback only (127.0.0.0/8, ::1, localhost).")
    var host = "127.0.0.1"

    @Option(help: "Listen port; 0 picks a free port.")
    var port = 9901

    @Option(name: .customLong("port-file"), help: "Write the bound port to this file once listening.")
    var portFile: String?

    @Option(name: .customLong("require-key"), help: "Require this API key (Bearer, api-key or x-api-key by provider).")
    var requireKey: String?

    @Option(name: .customLong("require-key-file"), help: "Read the required API key from this file.")
    var requireKeyFile: String?

    @Option(help: "Reply text; streamed one word per event.")
    var reply = MockUpstreamConfiguration().reply

    @Option(help: "Emit exactly this many words (the reply is cycled or cut).")
    var chunks: Int?

    @Option(name: .customLong("chunk-delay-ms"), help: "Pause between stream events, in milliseconds.")
    var chunkDelayMs = 0

    @Option(name: .customLong("record-limit"), help: "How many recent requests /__mock/requests keeps.")
    var recordLimit = 1000

    @Option(name: .customLong("fault"), help: "A fault item as JSON, appended to the fault plan at start; repeatable.")
    var faults: [String] = []

    @Option(name: .customLong("default-status"), help: "Answer every request without a planned fault with this status.")
    var defaultStatus: Int?

    @Option(name: .customLong("default-retry-after"), help: "Retry-After sent with --default-status.")
    var defaultRetryAfter: String?

    @Option(name: .customLong("default-delay-before-headers-ms"), help: "Delay before every response head.")
    var defaultDelayBeforeHeadersMs: Int?

    @Option(name: .customLong("default-reset-after-bytes"), help: "Reset every connection after this many body bytes.")
    var defaultResetAfterBytes: Int?

    @Flag(name: .customLong("default-hang"), help: "Never answer requests without a planned fault.")
    var defaultHang = false

    func validate() throws {
        if self.requireKey != nil && self.requireKeyFile != nil {
            throw ValidationError("--require-key and --require-key-file are mutually exclusive; pass one.")
        }
        let configuration = try self.makeConfiguration(requiredKey: nil)
        do {
            try configuration.validate()
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        let configuration = try self.makeConfiguration(requiredKey: self.loadKey())
        let server = try await MockUpstreamServer.start(configuration)
        let signals = SignalWaiter()
        await signals.install([SIGINT, SIGTERM])
        if let portFile {
            try Self.writeAtomically(String(server.port) + "\n", to: portFile)
        }
        let banner = "mock-upstream listening on http://\(Self.urlHost(configuration.host)):\(server.port)\n"
        FileHandle.standardOutput.write(Data(banner.utf8))
        await signals.wait()
        try await server.shutdown()
    }

    private func makeConfiguration(requiredKey: String?) throws -> MockUpstreamConfiguration {
        var initialFaults: [MockFault] = []
        for (index, text) in self.faults.enumerated() {
            do {
                initialFaults += try MockFault.parseList(json: Array(text.utf8))
            } catch {
                throw ValidationError("--fault #\(index + 1): \(error.message)")
            }
        }
        return MockUpstreamConfiguration(
            host: self.host,
            port: self.port,
            requiredKey: requiredKey,
            reply: self.reply,
            chunkCount: self.chunks,
            chunkDelay: .milliseconds(Int64(self.chunkDelayMs)),
            defaultFault: MockFault(
                status: self.defaultStatus,
                retryAfter: self.defaultRetryAfter,
                delayBeforeHeadersMs: self.defaultDelayBeforeHeadersMs,
                resetAfterBytes: self.defaultResetAfterBytes,
                hang: self.defaultHang
            ),
            initialFaults: initialFaults,
            recordLimit: self.recordLimit
        )
    }

    private func loadKey() throws -> String? {
        guard let requireKeyFile else { return self.requireKey }
        let key: String
        do {
            key = try String(contentsOfFile: requireKeyFile, encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw ValidationError("--require-key-file \(requireKeyFile): cannot read the file (\(error)).")
        }
        guard !key.isEmpty else {
            throw ValidationError("--require-key-file \(requireKeyFile): the file is empty; put the key in it.")
        }
        return key
    }

    private static func writeAtomically(_ text: String, to path: String) throws {
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw ValidationError("--port-file \(path): cannot write the file (\(error)).")
        }
    }

    private static func urlHost(_ host: String) -> String {
        host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
    }
}

/// Waits for the first of the given signals, delivered through Dispatch instead of an async-signal handler.
private final class SignalWaiter {
    private let stream: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation
    private var sources: [any DispatchSourceSignal] = []

    init() {
        (self.stream, self.continuation) = AsyncStream.makeStream(of: Int32.self)
    }

    /// Installs the sources and returns once Dispatch has registered them, so no early signal is lost.
    func install(_ signals: [Int32]) async {
        for number in signals {
            #if canImport(Darwin)
                // kqueue delivers signals only when the default action is disabled; on Linux Dispatch uses signalfd.
                signal(number, SIG_IGN)
            #endif
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            let continuation = self.continuation
            source.setEventHandler { continuation.yield(number) }
            await withCheckedContinuation { (registered: CheckedContinuation<Void, Never>) in
                source.setRegistrationHandler { registered.resume() }
                source.resume()
            }
            self.sources.append(source)
        }
    }

    func wait() async {
        for await _ in self.stream {
            return
        }
    }

    deinit {
        for source in self.sources {
            source.cancel()
        }
    }
}
