import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// Where and how ``WebSocketClient`` connects.
public struct WebSocketClientConfiguration: Sendable {
    /// `ws://host[:port]/path` (plain TCP) or `wss://host[:port]/path` (TLS).
    public var url: URL
    /// Headers sent with the HTTP upgrade request besides the WebSocket ones and `Host`.
    public var headers: HTTPHeaders
    /// The longest message accepted from the peer, in bytes (a single frame or the sum of its fragments).
    /// A longer one fails the connection with ``WebSocketError/Code/messageTooLarge``.
    public var maximumMessageSize: Int
    /// How long TCP connect, TLS handshake and HTTP upgrade may take together.
    public var connectTimeout: Duration
    /// After ``WebSocketConnection/close()`` sends its close frame, how long to wait for the peer's before
    /// dropping the TCP connection.
    public var closeTimeout: Duration
    /// PEM file of extra CA certificates trusted besides the system store (`wss://` only).
    public var extraCAFile: String?
    /// A ready TLS context to use instead of the shared one for ``extraCAFile`` (see ``WebSocketTLS``).
    public var tlsContext: NIOSSLContext?

    public init(
        url: URL,
        headers: HTTPHeaders = [:],
        maximumMessageSize: Int = 1 << 24,
        connectTimeout: Duration = .seconds(20),
        closeTimeout: Duration = .seconds(2),
        extraCAFile: String? = nil,
        tlsContext: NIOSSLContext? = nil
    ) {
        self.url = url
        self.headers = headers
        self.maximumMessageSize = maximumMessageSize
        self.connectTimeout = connectTimeout
        self.closeTimeout = closeTimeout
        self.extraCAFile = extraCAFile
        self.tlsContext = tlsContext
    }
}

/// The parts of a `ws`/`wss` URL a connection needs.
struct WebSocketTarget: Sendable, Hashable {
    var host: String
    var port: Int
    var usesTLS: Bool
    /// Path and query, at least `/`.
    var requestURI: String
    /// The `Host` header value: host, plus `:port` when not the scheme's default (IPv6 in brackets).
    var hostHeader: String

    init(_ url: URL) throws(WebSocketError) {
        guard let scheme = url.scheme?.lowercased(), scheme == "ws" || scheme == "wss" else {
            throw WebSocketError(.invalidURL, detail: "scheme must be ws or wss")
        }
        guard var host = url.host, !host.isEmpty else { throw WebSocketError(.invalidURL, detail: "no host") }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        usesTLS = scheme == "wss"
        let defaultPort = usesTLS ? 443 : 80
        port = url.port ?? defaultPort
        guard (1...65535).contains(port) else { throw WebSocketError(.invalidURL, detail: "bad port") }
        self.host = host
        let path = url.path.isEmpty ? "/" : url.path
        requestURI = url.query.map { path + "?" + $0 } ?? path
        let bracketed = host.contains(":") ? "[\(host)]" : host
        hostHeader = port == defaultPort ? bracketed : "\(bracketed):\(port)"
    }

    /// Whether `host` is an IPv4 or IPv6 literal, which must not be sent as SNI; NIOSSL then checks the
    /// certificate against the connected address instead.
    var hostIsIPAddress: Bool {
        (try? SocketAddress(ipAddress: host, port: port)) != nil
    }
}
