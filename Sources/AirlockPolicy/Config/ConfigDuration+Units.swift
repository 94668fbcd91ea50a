extension ConfigDuration {
    public static func seconds(_ value: Int64) -> ConfigDuration { ConfigDuration(nanoseconds: value * 1_000_000_000) }
    public static func milliseconds(_ value: Int64) -> ConfigDuration { ConfigDuration(nanoseconds: value * 1_000_000) }
}

extension ConfigPath {
    /// Parses the dotted form validation uses: `router.listeners[0].tcp`.
    init(dotted text: String) {
        var components: [Component] = []
        for part in text.split(separator: ".") {
            var rest = part[...]
            if let bracket = rest.firstIndex(of: "[") {
                if bracket > rest.startIndex { components.append(.key(String(rest[..<bracket]))) }
                rest = rest[bracket...]
                while rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
                    if let index = Int(rest[rest.index(after: rest.startIndex)..<close]) {
                        components.append(.index(index))
                    }
                    rest = rest[rest.index(after: close)...]
                }
            } else {
                components.append(.key(String(rest)))
            }
        }
        self.init(components)
    }
}
