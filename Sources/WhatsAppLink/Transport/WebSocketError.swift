/// Why a WebSocket connection could not be opened, or stopped working.
public struct WebSocketError: Error, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case invalidURL, tlsConfiguration, connectFailed, tlsFailure, upgradeRejected, timeout
            case messageTooLarge, protocolViolation, connectionClosed, cancelled
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }
        /// The URL is not `ws://` or `wss://` with a host.
        public static let invalidURL = Code(.invalidURL)
        /// The TLS context could not be built (for example the extra CA file is missing or not PEM).
        public static let tlsConfiguration = Code(.tlsConfiguration)
        /// The TCP connection could not be made (refused, unreachable, name not resolved).
        public static let connectFailed = Code(.connectFailed)
        /// The TLS handshake failed, most often because the server certificate is not trusted.
        public static let tlsFailure = Code(.tlsFailure)
        /// The server answered the HTTP upgrade with something other than a valid `101 Switching Protocols`.
        public static let upgradeRejected = Code(.upgradeRejected)
        /// Connecting (TCP, TLS and the HTTP upgrade together) took longer than the configured timeout.
        public static let timeout = Code(.timeout)
        /// The peer sent a message (or frame) longer than the configured maximum.
        public static let messageTooLarge = Code(.messageTooLarge)
        /// The peer broke the WebSocket protocol (bad framing, fragments out of order, ...).
        public static let protocolViolation = Code(.protocolViolation)
        /// The connection is closed (by either side), so nothing more can be sent.
        public static let connectionClosed = Code(.connectionClosed)
        /// The task waiting for the connection was cancelled.
        public static let cancelled = Code(.cancelled)

        public var description: String {
            switch value {
            case .invalidURL: "invalid WebSocket URL"
            case .tlsConfiguration: "TLS configuration error"
            case .connectFailed: "connection failed"
            case .tlsFailure: "TLS handshake failed"
            case .upgradeRejected: "WebSocket upgrade rejected"
            case .timeout: "connect timeout"
            case .messageTooLarge: "message too large"
            case .protocolViolation: "WebSocket protocol violation"
            case .connectionClosed: "connection closed"
            case .cancelled: "cancelled"
            }
        }
    }

    public let code: Code
    /// Extra detail for logs (an underlying error's description); never secret material.
    public let detail: String?

    public init(_ code: Code, detail: String? = nil) {
        self.code = code
        self.detail = detail
    }

    public var description: String {
        if let detail { "WebSocketError: \(code) (\(detail))" } else { "WebSocketError: \(code)" }
    }
}
