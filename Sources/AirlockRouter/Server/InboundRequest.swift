import NIOCore
import NIOHTTP1

/// A complete agent request as read off the connection, with the identity the kernel gave its connection.
struct InboundRequest: Sendable {
    let head: HTTPRequestHead
    let body: ByteBuffer
    let peer: PeerIdentity
    /// Monotonic time the head arrived.
    let receivedAtNanos: UInt64

    /// The path without the query string.
    var path: Substring {
        let uri = head.uri[...]
        return uri.firstIndex(of: "?").map { uri[..<$0] } ?? uri
    }
}
