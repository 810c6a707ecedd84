import Crypto
import Foundation
import Logging
import Store
import WhatsAppProtocol

/// The command contract without a broker: takes a ``CommandEnvelope`` and returns its
/// ``CommandOutcome``. The AMQP consumer only feeds it deliveries and carries out what it decides.
///
/// Checks run in the documented order, each answering with its own error: command name (501),
/// authentication (401), capability (403), body (400), session (404), parameters (400); then the
/// handler. A command with a `message_id` is run at most once per caller: a duplicate is answered
/// from this worker's cache (and waits while the first copy still runs), and for commands that
/// record their answers, from the fleet's shared store.
public final class CommandPipeline: Sendable {
    public struct Configuration: Sendable {
        /// Largest body accepted, in bytes; bigger ones get a 400.
        public var maxBodySize: Int
        /// How long answers are remembered for `message_id` deduplication, and how many.
        public var answerTimeToLive: Duration
        public var answerCapacity: Int

        public init(maxBodySize: Int = 64 * 1024, answerTimeToLive: Duration = .seconds(15 * 60), answerCapacity: Int = 100_000) {
            self.maxBodySize = maxBodySize
            self.answerTimeToLive = answerTimeToLive
            self.answerCapacity = answerCapacity
        }
    }

    let configuration: Configuration
    let handlers: [String: any CommandHandler]
    let authenticator: any Authenticator
    let sessions: (any SessionStore)?
    /// The fleet's shared record of answers (see ``CommandHandler/recordsAnswerInStore``).
    let replies: (any ReplyStore)?
    let cache: IdempotencyCache
    let logger: Logger

    /// - Parameters:
    ///   - handlers: the commands; a later handler replaces an earlier one of the same name.
    ///   - store: sessions (for the 404 check) and the fleet's recorded answers; nil on a worker
    ///     without a store, which then serves only commands that need no session.
    public init(
        configuration: Configuration = Configuration(), handlers: [any CommandHandler], authenticator: (any Authenticator)? = nil,
        store: (any WalinkStore)? = nil, logger: Logger = Logger(label: "walink.commands")
    ) {
        self.configuration = configuration
        self.handlers = Dictionary(handlers.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        self.authenticator = authenticator ?? NoAuthenticator()
        self.sessions = store
        self.replies = store
        self.cache = IdempotencyCache(timeToLive: configuration.answerTimeToLive, capacity: configuration.answerCapacity)
        self.logger = logger
    }

    /// The names of the commands this pipeline answers.
    public var commandNames: [String] { handlers.keys.sorted() }

    /// Runs one command to its outcome. Never throws: every failure is an answer. A command with an
    /// expiration gives its store calls up before it (a store that stopped answering then answers
    /// 503 `store_unavailable` while the caller still listens).
    nonisolated(nonsending) public func run(_ envelope: CommandEnvelope) async -> CommandOutcome {
        guard let expiresIn = envelope.expiresIn else { return await runWithinExpiration(envelope) }
        // A little before the caller gives up, so the answer can still reach it.
        let deadline = ContinuousClock.now + expiresIn - min(expiresIn / 5, .seconds(1))
        return await StoreCallDeadline.$current.withValue(deadline) { await runWithinExpiration(envelope) }
    }

    nonisolated(nonsending) private func runWithinExpiration(_ envelope: CommandEnvelope) async -> CommandOutcome {
        // Looked up once for the whole command (the name is hashed for every lookup).
        let handler = envelope.command.flatMap { handlers[$0] }
        guard let messageID = envelope.messageID else { return await execute(envelope, handler: handler) }
        let key = IdempotencyCache.Key(
            command: envelope.command ?? "", messageID: messageID, credentialsDigest: Self.digest(envelope.authorization))
        let log = CommandLog(logger: logger, command: envelope.command, correlationID: envelope.correlationID)
        var start = cache.begin(key)  // decided at once, without an async call, unless a copy runs
        if start == nil { start = await cache.waitForFirstCopy(key) }
        if case .replay(let earlier) = start {
            log.info("Duplicate command answered from the earlier result", metadata: ["amqp.message_id": "\(messageID)"])
            return .answer(earlier)
        }
        let sharedKey = self.sharedKey(key, handler: handler)
        if let sharedKey, let recorded = await recordedAnswer(sharedKey) {
            log.info("Redelivered command answered from the fleet's record", metadata: ["amqp.message_id": "\(messageID)"])
            cache.complete(key, with: recorded)
            return .answer(recorded)
        }
        let outcome = await execute(envelope, handler: handler)
        switch outcome {
        case .answer(let answer):
            if let sharedKey, answer.handled { await record(answer, key: sharedKey, log: log) }
            cache.complete(key, with: answer)
        case .forward:
            // The owner answers (and remembers) it; a duplicate arriving here is forwarded again.
            cache.abandon(key)
        }
        return outcome
    }

    // MARK: - The checks and the handler

    /// - Parameter handler: the handler of `envelope.command`, if there is one.
    nonisolated(nonsending) func execute(_ envelope: CommandEnvelope, handler: (any CommandHandler)?) async -> CommandOutcome {
        var handled = false
        var caller: Caller? = nil
        var session: String? = nil
        do throws(GatewayError) {
            guard let name = envelope.command, !name.isEmpty else {
                throw GatewayError.invalidField(
                    "type", "no command name: publish to exchange walink.commands with the command as routing key, or set the type property"
                )
            }
            guard let handler else {
                throw GatewayError(.notImplemented, "unknown command \(name)", details: ["command": .string(name)])
            }
            if let capability = handler.requiredCapability {
                let authenticated = try await authenticator.authenticate(envelope.authorization)
                guard authenticated.may(capability) else { throw GatewayError.forbidden(capability) }
                caller = authenticated
            }
            let parameters = try parseBody(envelope.body)
            var sessionRecord: Session? = nil
            if handler.sessionRequirement == .existing {
                sessionRecord = try await lookUpSession(parameters, caller: caller)
            }
            try handler.parameters.validate(parameters)
            let request = CommandRequest(
                command: name, parameters: parameters, correlationID: envelope.correlationID, messageID: envelope.messageID,
                caller: caller, sessionRecord: sessionRecord
            )
            session = request.session
            handled = true
            switch try await handler.handle(request) {
            case .answer(let status, let body):
                return .answer(CommandAnswer(status: status, body: body, handled: true, organization: caller?.organization, session: session))
            case .forward(let worker):
                guard envelope.forwardedBy == nil else {
                    throw GatewayError(.unavailable, "the session is busy on another worker; retry in a few seconds")
                }
                return .forward(toWorker: worker)
            }
        } catch {
            return .answer(CommandAnswer(error, handled: handled, organization: caller?.organization, session: session))
        }
    }

    /// The session a command names, in the caller's organization: 404 when missing or foreign.
    nonisolated(nonsending) func lookUpSession(_ parameters: JSONObject, caller: Caller?) async throws(GatewayError) -> Session {
        guard let value = parameters["session"], value != .null else { throw GatewayError.invalidField("session", "required") }
        guard case .string(let id) = value else {
            throw GatewayError.invalidField("session", "must be of type string, not \(value.typeName)", extra: ["expected": "string"])
        }
        guard let sessions, let caller else { throw GatewayError(.internalError, "no session store on this worker") }
        // A malformed id cannot name a session: the same 404 as a missing one.
        guard StoreValidation.isValidSessionID(id) else { throw GatewayError.sessionNotFound }
        do {
            guard let session = try await sessions.session(organization: caller.organization, id: id) else {
                throw GatewayError.sessionNotFound
            }
            return session
        } catch let error as GatewayError {
            throw error
        } catch let error as StoreError {
            throw GatewayError.from(error)
        } catch {
            throw GatewayError(.internalError, "session lookup failed")
        }
    }

    func parseBody(_ body: CommandEnvelope.Body) throws(GatewayError) -> JSONObject {
        let limit = configuration.maxBodySize
        let bytes: [UInt8]
        switch body {
        case .tooLarge(let size):
            throw .invalidField(
                "body", "larger than \(limit) bytes", extra: ["limit": .int(Int64(limit)), "size": .int(Int64(clamping: size))])
        case .bytes(let data):
            guard data.count <= limit else { return try parseBody(.tooLarge(size: UInt64(data.count))) }
            bytes = data
        }
        // An empty body means no parameters, so `walink call worker.ping` needs no JSON.
        if bytes.isEmpty { return JSONObject() }
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw .invalidField("body", "malformed JSON: \(error.reason)", extra: ["offset": .int(Int64(error.offset))])
        }
        guard case .object(let object) = value else {
            throw .invalidField("body", "must be a JSON object, not \(value.typeName)")
        }
        return object
    }

    // MARK: - Answers shared by the fleet

    /// The key of a command's answer in the shared store, for commands that record theirs.
    private func sharedKey(_ key: IdempotencyCache.Key, handler: (any CommandHandler)?) -> String? {
        guard replies != nil, handler?.recordsAnswerInStore == true else { return nil }
        let material = "\(key.command)\u{0}\(key.messageID)\u{0}\(key.credentialsDigest)"
        return Hex.encode(Array(SHA256.hash(data: Array(material.utf8))))
    }

    nonisolated(nonsending) private func recordedAnswer(_ key: String) async -> CommandAnswer? {
        guard let replies, let stored = try? await replies.reply(key: key), let body = try? JSONParser.parse(Array(stored.body)) else {
            return nil
        }
        return CommandAnswer(status: stored.status, body: body, handled: true)
    }

    nonisolated(nonsending) private func record(_ answer: CommandAnswer, key: String, log: CommandLog) async {
        guard let replies else { return }
        do {
            try await replies.saveReply(key: key, status: answer.status, body: Data(answer.body.serialized), ttl: configuration.answerTimeToLive)
        } catch {
            // The local cache still covers redeliveries to this worker.
            log.warning("Answer not recorded in the store", metadata: ["walink.error": "\(error)"])
        }
    }

    /// The caller's credentials as a digest: part of the idempotency key, so one caller can never
    /// replay another's answer by guessing its message id.
    static func digest(_ authorization: String?) -> String {
        guard let authorization else { return "" }
        return Hex.encode(Array(SHA256.hash(data: Array(authorization.utf8))))
    }
}

extension GatewayError {
    static func forbidden(_ capability: Capability) -> GatewayError {
        let action = capability == .manage ? "manage sessions" : "use \(capability)"
        return GatewayError(.forbidden, "this caller may not \(action)", details: ["capability": .string(capability.name)])
    }
}
