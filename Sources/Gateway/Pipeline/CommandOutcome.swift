/// What the pipeline decided for one command: the answer to send, or the worker to hand it to.
public enum CommandOutcome: Sendable {
    case answer(CommandAnswer)
    /// Another worker holds the session's live connection: it gets the command, keeping `reply_to`
    /// and `correlation_id`, and answers the caller itself.
    case forward(toWorker: String)
}

/// An answer: the HTTP-equivalent status and the documented body, plus where a result without
/// `reply_to` is published.
public struct CommandAnswer: Sendable, Hashable {
    public var status: Int
    public var body: JSONValue
    /// Whether the command was accepted and its handler ran; false when it was refused before
    /// (unknown, malformed, unauthenticated). A refused command nobody waits for is dead-lettered.
    public var handled: Bool
    /// For `walink.results` routing keys: `<organization>.<session>.<command>`.
    public var organization: String?
    public var session: String?

    public init(status: Int, body: JSONValue, handled: Bool, organization: String? = nil, session: String? = nil) {
        self.status = status
        self.body = body
        self.handled = handled
        self.organization = organization
        self.session = session
    }

    /// The answer for an error.
    public init(_ error: GatewayError, handled: Bool, organization: String? = nil, session: String? = nil) {
        self.init(status: error.code.status, body: error.body, handled: handled, organization: organization, session: session)
    }
}
