import Store

/// One command of the API (`worker.ping`, `session.create`, ...). The pipeline runs the checks
/// before the handler, so a handler sees an authorized caller, a well-typed body and, when it asks
/// for it, the caller's session.
public protocol CommandHandler: Sendable {
    /// The command name: the routing key on `walink.commands`, or the AMQP `type` property.
    var name: String { get }
    var parameters: ParameterSchema { get }
    /// What the caller must be allowed to do (403 otherwise); nil for commands anyone may call
    /// (`worker.ping`), which also skip authentication.
    var requiredCapability: Capability? { get }
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
    public var requiredCapability: Capability? { .manage }
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
    /// Who called (nil for commands without a ``CommandHandler/requiredCapability``).
    public var caller: Caller?
    /// The session named by `session`, for handlers with ``SessionRequirement/existing``.
    public var sessionRecord: Session?

    public init(
        command: String, parameters: JSONObject, correlationID: String? = nil, messageID: String? = nil, caller: Caller? = nil,
        sessionRecord: Session? = nil
    ) {
        self.command = command
        self.parameters = parameters
        self.correlationID = correlationID
        self.messageID = messageID
        self.caller = caller
        self.sessionRecord = sessionRecord
    }

    /// The `session` parameter when present.
    public var session: String? { parameters["session"]?.stringValue }
}

/// What a handler decided: an answer for the caller, or a hand-over to the worker that holds the
/// session's live connection (that worker then answers the caller itself).
public enum CommandResult: Sendable {
    case answer(status: Int, body: JSONValue)
    case forward(toWorker: String)

    /// A success answer (200 unless told otherwise).
    public init(status: Int = 200, body: JSONValue) {
        self = .answer(status: status, body: body)
    }
}
