#if canImport(Glibc)
import Glibc
#endif

/// Decides whether a listen address is loopback. Only IP literals count: a host name could resolve elsewhere.
public enum LoopbackAddress {
    /// nil when `host` is an IPv4 address in 127.0.0.0/8 or the IPv6 address ::1; otherwise why not.
    public static func refusal(_ host: String) -> String? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            let first = UInt32(bigEndian: v4.s_addr) >> 24
            if first == 127 { return nil }
            return v4.s_addr == 0 ? "the unspecified address listens on every interface" : "not in 127.0.0.0/8"
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            let bytes = withUnsafeBytes(of: v6) { Array($0) }
            if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return nil }
            if bytes.allSatisfy({ $0 == 0 }) { return "the unspecified address listens on every interface" }
            return "not ::1"
        }
        return "not an IP address; host names are not accepted"
    }
}
