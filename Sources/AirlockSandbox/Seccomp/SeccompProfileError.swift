/// A profile the compiler refused, with the JSON location of the offending value.
public struct SeccompProfileError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let name: String
        public var description: String { name }

        public static let invalidJSON = Code(name: "invalid JSON")
        public static let unknownAction = Code(name: "unknown action")
        public static let unsupportedAction = Code(name: "unsupported action")
        public static let unknownOperator = Code(name: "unknown operator")
        public static let argumentIndex = Code(name: "argument index out of range")
        public static let unknownArchitecture = Code(name: "unknown architecture")
        public static let unknownFlag = Code(name: "unknown flag")
        public static let emptyRule = Code(name: "rule names no syscall")
        public static let errnoRange = Code(name: "errno out of range")
        public static let libseccomp = Code(name: "libseccomp refused")
    }

    public var code: Code
    /// JSON path, e.g. `syscalls[3].args[0].op`.
    public var location: String
    public var message: String

    public var description: String { "\(location): \(code): \(message)" }
}
