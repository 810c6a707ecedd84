/// A command as the pipeline sees it: what the transport delivered, without the transport. The
/// AMQP consumer builds one per delivery; tests build them directly.
public struct CommandEnvelope: Sendable {
    /// The body, or only its size when the transport did not keep it (larger than allowed).
    public enum Body: Sendable {
        case bytes([UInt8])
        case tooLarge(size: UInt64)
    }

    /// The command name (nil when the message named none).
    public var command: String?
    public var correlationID: String?
    /// The idempotency key.
    public var messageID: String?
    /// The raw `authorization` header (`Bearer <token>`).
    public var authorization: String?
    /// Set on commands another worker forwarded here (they are never forwarded twice).
    public var forwardedBy: String?
    /// How long the caller waits for the answer (the message's `expiration`): store calls are given
    /// up in time to answer within it.
    public var expiresIn: Duration?
    public var body: Body

    public init(
        command: String?, correlationID: String? = nil, messageID: String? = nil, authorization: String? = nil,
        forwardedBy: String? = nil, expiresIn: Duration? = nil, body: Body = .bytes([])
    ) {
        self.expiresIn = expiresIn
        self.command = command
        self.correlationID = correlationID
        self.messageID = messageID
        self.authorization = authorization
        self.forwardedBy = forwardedBy
        self.body = body
    }
}
