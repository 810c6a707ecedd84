import WhatsAppProtocol

/// Why a ``WhatsAppConnection`` could not be opened, or failed while open.
public struct WhatsAppConnectionError: Error, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case connectFailed, handshakeFailed, certificateInvalid, handshakeTimeout, connectionClosed
            case malformedFrame, decryptionFailed, cancelled
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }
        /// The WebSocket could not be opened (see ``WhatsAppConnectionError/webSocketError``).
        public static let connectFailed = Code(.connectFailed)
        /// The Noise handshake failed: a malformed ServerHello, a failed decryption, a bad key.
        public static let handshakeFailed = Code(.handshakeFailed)
        /// The server's certificate chain was rejected (see ``WhatsAppConnectionError/certificateError``),
        /// e.g. it is not signed by the configured root key.
        public static let certificateInvalid = Code(.certificateInvalid)
        /// No ServerHello within the handshake timeout.
        public static let handshakeTimeout = Code(.handshakeTimeout)
        /// The connection closed (during the handshake, or before a send).
        public static let connectionClosed = Code(.connectionClosed)
        /// After the handshake, a frame was too long, or its plaintext was not binary XML.
        public static let malformedFrame = Code(.malformedFrame)
        /// After the handshake, a frame did not authenticate under the transport key.
        public static let decryptionFailed = Code(.decryptionFailed)
        /// The waiting task was cancelled.
        public static let cancelled = Code(.cancelled)

        public var description: String {
            switch value {
            case .connectFailed: "connect failed"
            case .handshakeFailed: "noise handshake failed"
            case .certificateInvalid: "server certificate invalid"
            case .handshakeTimeout: "handshake timeout"
            case .connectionClosed: "connection closed"
            case .malformedFrame: "malformed frame"
            case .decryptionFailed: "frame decryption failed"
            case .cancelled: "cancelled"
            }
        }
    }

    public let code: Code
    /// The certificate check that failed, for ``Code/certificateInvalid``.
    public let certificateError: CertificateError?
    /// The WebSocket failure behind ``Code/connectFailed`` (or a broken connection).
    public let webSocketError: WebSocketError?
    /// Extra detail for logs; never secret material.
    public let detail: String?

    public init(
        _ code: Code, certificateError: CertificateError? = nil, webSocketError: WebSocketError? = nil,
        detail: String? = nil
    ) {
        self.code = code
        self.certificateError = certificateError
        self.webSocketError = webSocketError
        self.detail = detail
    }

    public var description: String {
        var text = "WhatsAppConnectionError: \(code)"
        if let certificateError { text += " (\(certificateError.code))" }
        if let webSocketError { text += " (\(webSocketError))" }
        if let detail { text += " (\(detail))" }
        return text
    }
}
