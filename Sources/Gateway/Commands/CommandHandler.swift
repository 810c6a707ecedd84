import Store

/// One command of the API (`worker.ping`, `session.create`, ...).
public protocol CommandHandler: Sendable {
    /// The command name: the routing key on `walink.commands`, or the AMQP `type` property.
    var name: String { get }
    var parameters: ParameterSchema { get }
    /// False only for commands anyone may call (`worker.ping`).
    var requiresAuthentication: Bool { get }
    /// `.existing`: the `session` parameter must name a session of the caller's organization,
    /// checked (404) before the other parameters; the handler gets it as `sessionRecord`.
    var sessionRequirement: SessionRequirement { get }
    /// True for commands whose effect a second run would change (create, delete): their answer to a
    /// `message_id` is recorded in the shared store too, so a redelivery to another worker of the
    /// fleet is answered, not run again. Such answers must carry no secrets.
    var recordsAnswerInStore: Bool { get }
    func handle(_ request: CommandRequest) async throws(GatewayError) -> CommandResult
}

extension CommandHandler {
    public var requiresAuthentication: Bool { true }
    public var sessionRequirement: SessionRequirement { .none }
    public var recordsAnswerInStore: Bool { false }
}

public enum SessionRequirement: Sendable {
    case none
    case existing
}

/// A validated command, as a handler sees it.
public struct CommandRequest: Sendable {
    public let command: String
    public let parameters: JSONObject
    public let correlationID: String?
    public let messageID: String?
    /// The raw `authorization` header; handlers normally use ``caller`` instead.
    public let authorization: String?
    /// Who called, once the authentication step ran (nil for unauthenticated commands).
    public var caller: Caller?
    /// The session named by `session`, for handlers with ``SessionRequirement/existing``.
    public var sessionRecord: Session?

    public init(
        command: String,
        parameters: JSONObject,
        correlationID: String?,
        messageID: String?,
        authorization: String?,
        caller: Caller? = nil,
        sessionRecord: Session? = nil
    ) {
        self.sessionRecord = sessionRecord
        self.command = command
        self.parameters = parameters
        self.correlationID = correlationID
        self.messageID = messageID
        self.authorization = authorization
        self.caller = caller
    }

    /// The `session` parameter when present.
    public var session: String? { parameters["session"]?.stringValue }
}

/// An authenticated caller: the organization it acts for and what it may do.
public struct Caller: Sendable, Hashable {
    public let organization: String
    public let subject: String
    public let capabilities: Set<String>

    public init(organization: String, subject: String, capabilities: Set<String>) {
        self.organization = organization
        self.subject = subject
        self.capabilities = capabilities
    }

    public static let manage = "manage"
}

/// A successful answer, or a hand-over to the worker that owns the session.
public struct CommandResult: Sendable {
    public var status: Int
    public var body: JSONValue
    /// Set when another worker holds the session's live connection: the command goes to that
    /// worker's queue, with its `reply_to` and `correlation_id`, and that worker answers.
    public var forwardTo: String?

    public init(status: Int = 200, body: JSONValue) {
        self.status = status
        self.body = body
    }

    public static func forward(to worker: String) -> CommandResult {
        var result = CommandResult(status: 0, body: .null)
        result.forwardTo = worker
        return result
    }
}
