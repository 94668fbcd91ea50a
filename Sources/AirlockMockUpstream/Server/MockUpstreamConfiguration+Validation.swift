import NIOCore

extension MockUpstreamConfiguration {
    /// Checks the values a server cannot start with: a non-loopback host, a port out of range, negative sizes.
    public func validate() throws(MockUpstreamError) {
        guard LoopbackHost.isLoopback(self.host) else {
            throw MockUpstreamError(
                code: .nonLoopbackHost,
                message: "mock upstream: refusing to listen on '\(self.host)': only loopback addresses "
                    + "(127.0.0.0/8, ::1, localhost) are allowed; use --host 127.0.0.1"
            )
        }
        guard (0...65535).contains(self.port) else {
            throw MockUpstreamError(
                code: .invalidPort,
                message: "mock upstream: port \(self.port) is out of range; use 0...65535 (0 picks a free port)"
            )
        }
        guard self.recordLimit >= 1, self.maxBodyBytes >= 0, self.embeddingDimensions >= 1,
            (self.chunkCount ?? 0) >= 0, self.chunkDelay >= .zero
        else {
            throw MockUpstreamError(
                code: .invalidConfiguration,
                message: "mock upstream: recordLimit and embeddingDimensions must be at least 1; maxBodyBytes, "
                    + "chunkCount and chunkDelay must not be negative"
            )
        }
    }
}
