/// Why an AMQP operation failed. Equality compares codes only; the message is for humans and never
/// contains message bodies or credentials.
public struct AMQPError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case invalidURL, invalidConfiguration, connectionFailed, loginFailed, connectionLost, channelClosed
            case publishNacked, publishTimedOut, confirmTimedOut, messageExpired, shutdown, declareFailed, protocolError
            case tlsVerificationFailed, tlsHandshakeFailed
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// `WALINK_AMQP_URL` (or another AMQP URL) could not be parsed.
        public static let invalidURL = Code(.invalidURL)
        /// A setting that goes with the URL is wrong (`WALINK_AMQP_CONFIRM_TIMEOUT`, the TLS files),
        /// or a TLS file could not be loaded.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The TCP/TLS connection to the broker could not be opened.
        public static let connectionFailed = Code(.connectionFailed)
        /// The broker refused the credentials or the virtual host.
        public static let loginFailed = Code(.loginFailed)
        /// The connection dropped (socket error, missed heartbeats, broker closed it).
        public static let connectionLost = Code(.connectionLost)
        /// The broker closed the channel (for example a missing exchange or an inequivalent declare).
        public static let channelClosed = Code(.channelClosed)
        /// The broker answered a publish with `basic.nack`.
        public static let publishNacked = Code(.publishNacked)
        /// No confirm arrived before the publish deadline.
        public static let publishTimedOut = Code(.publishTimedOut)
        /// The broker confirmed nothing within the configured confirm timeout while publishes
        /// waited: the connection was dropped (publishes are sent again on the next node).
        public static let confirmTimedOut = Code(.confirmTimedOut)
        /// The message's own expiry passed before it could be sent (for example while the broker
        /// blocked the connection): it was dropped unsent.
        public static let messageExpired = Code(.messageExpired)
        /// The client is shutting down or has shut down.
        public static let shutdown = Code(.shutdown)
        /// A declare (exchange, queue, binding) was refused.
        public static let declareFailed = Code(.declareFailed)
        /// The broker sent something rabbitmq-c or we could not make sense of.
        public static let protocolError = Code(.protocolError)
        /// The broker's TLS certificate was refused: not signed by a trusted CA, expired, or not
        /// issued for the host name we connected to.
        public static let tlsVerificationFailed = Code(.tlsVerificationFailed)
        /// The TLS handshake failed or the broker ended the TLS session during it (for example a
        /// broker that requires a client certificate we did not give).
        public static let tlsHandshakeFailed = Code(.tlsHandshakeFailed)

        public var description: String {
            switch value {
            case .invalidURL: "invalid_url"
            case .invalidConfiguration: "invalid_configuration"
            case .connectionFailed: "connection_failed"
            case .loginFailed: "login_failed"
            case .connectionLost: "connection_lost"
            case .channelClosed: "channel_closed"
            case .publishNacked: "publish_nacked"
            case .publishTimedOut: "publish_timed_out"
            case .confirmTimedOut: "confirm_timed_out"
            case .messageExpired: "message_expired"
            case .shutdown: "shutdown"
            case .declareFailed: "declare_failed"
            case .protocolError: "protocol_error"
            case .tlsVerificationFailed: "tls_verification_failed"
            case .tlsHandshakeFailed: "tls_handshake_failed"
            }
        }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String = "") {
        self.code = code
        self.message = message
    }

    public var description: String { message.isEmpty ? "AMQP \(code)" : "AMQP \(code): \(message)" }
}

extension AMQPError: Equatable {
    public static func == (lhs: AMQPError, rhs: AMQPError) -> Bool { lhs.code == rhs.code }
}
