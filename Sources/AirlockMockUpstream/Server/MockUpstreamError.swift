/// An error from starting or driving the mock upstream. Compare by ``code``; new codes may be added.
public struct MockUpstreamError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case nonLoopbackHost, invalidPort, invalidConfiguration, invalidFault
        }
        private let value: Value

        /// The listen host is not a loopback address.
        public static let nonLoopbackHost = Code(value: .nonLoopbackHost)
        /// The port is outside 0...65535.
        public static let invalidPort = Code(value: .invalidPort)
        /// A configuration value is out of range.
        public static let invalidConfiguration = Code(value: .invalidConfiguration)
        /// A fault item is malformed.
        public static let invalidFault = Code(value: .invalidFault)

        public var description: String { "\(self.value)" }
    }

    /// What went wrong.
    public let code: Code
    /// What was wrong, where, and what to do.
    public let message: String

    /// Creates an error with a code and a human-readable message.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { self.message }
}
