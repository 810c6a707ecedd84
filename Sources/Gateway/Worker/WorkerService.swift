import AMQP
import Crypto
import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import ServiceLifecycle
import Store
import Synchronization

/// The worker: takes commands from `walink.commands`, runs them and answers on `reply_to` (or
/// publishes the result to `walink.results`), acking each delivery only after its answer was
/// confirmed by the broker.
///
/// Graceful shutdown (SIGTERM): stop taking new commands, let the ones in flight finish and be
/// answered, then close the connection; deliveries received but not started are requeued by the
/// broker when the connection closes, so nothing is lost.
public final class WorkerService: Service, Sendable {
    public let configuration: WorkerConfiguration
    /// The worker's broker connection; other components publish events through it.
    public let amqp: AMQPClient
    let handlers: [String: any CommandHandler]
    let authenticator: any Authenticator
    let sessions: (any SessionStore)?
    /// The fleet's shared record of answers (see ``CommandHandler/recordsAnswerInStore``).
    let replies: (any ReplyStore)?
    /// The sessions this worker is linking (nil without a store or linking configuration).
    public let links: LinkManager?
    /// This worker's own queue, where other workers forward commands for sessions it links.
    let workerQueue: String
    let cache: IdempotencyCache
    let logger: Logger

    /// - Parameters:
    ///   - store: sessions, API keys and leases; without it only `worker.ping` (and `diag.*`) are served.
    ///   - linking: how to reach WhatsApp; with a store, enables `session.qr` and `session.pairing-code`.
    ///   - handlers: extra commands (they replace built-in ones of the same name).
    public init(
        configuration: WorkerConfiguration,
        store: (any WalinkStore)? = nil,
        linking: LinkManager.Configuration? = nil,
        handlers extraHandlers: [any CommandHandler] = [],
        authenticator: (any Authenticator)? = nil,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "walink.worker")
    ) {
        self.configuration = configuration
        self.logger = logger
        self.authenticator = authenticator ?? NoAuthenticator()
        self.sessions = store
        self.replies = store
        workerQueue = configuration.names.workerQueue(configuration.workerID)
        cache = IdempotencyCache(timeToLive: configuration.idempotencyTimeToLive, capacity: configuration.idempotencyCapacity)
        var amqpConfiguration = configuration.amqp
        amqpConfiguration.connectionName = "walink worker \(configuration.workerID)"
        // Bodies above the limit are answered with a 400 without being kept in memory.
        amqpConfiguration.maxRetainedBodySize = configuration.maxBodySize

        // Every public command is bound even when this worker lacks its handler: unknown names reach
        // the queue through the alternate exchange anyway, and a fleet's workers may differ.
        var boundNames = Set(CommandCatalog.names).union(extraHandlers.map(\.name))
        if configuration.diagnosticCommands { boundNames.insert(DiagnosticSleep().name) }
        var topology = WalinkTopology.topology(
            commandNames: Array(boundNames), deliveryLimit: configuration.deliveryLimit, names: configuration.names
        )
        // The worker's own queue outlives a reconnect but not the worker: deleted a minute after it
        // stops consuming. A forwarded command nobody takes within 30 s (the worker stopped or died)
        // goes back to walink.commands for any worker, since the lease it was forwarded for has
        // expired by then.
        topology.queues.append(
            AMQPTopology.Queue(
                name: workerQueue, durable: false,
                arguments: [
                    "x-expires": .int32(60_000),
                    "x-message-ttl": .int32(30_000),
                    "x-dead-letter-exchange": .string(""),
                    "x-dead-letter-routing-key": .string(configuration.names.commandsQueue),
                ]))
        amqp = AMQPClient(
            configuration: amqpConfiguration,
            topology: topology,
            consumers: [
                AMQPConsumerSpec(queue: configuration.names.commandsQueue, prefetch: configuration.concurrency),
                AMQPConsumerSpec(queue: workerQueue, prefetch: configuration.concurrency),
            ],
            logger: logger
        )

        var all: [any CommandHandler] = [WorkerPing(workerID: configuration.workerID)]
        var links: LinkManager? = nil
        if let store {
            if let linking {
                links = LinkManager(
                    configuration: linking, workerID: configuration.workerID, store: store,
                    events: EventPublisher(amqp: amqp, names: configuration.names, logger: logger),
                    eventLoopGroup: eventLoopGroup, logger: logger
                )
            }
            all += [
                SessionCreate(store: store), SessionGet(), SessionList(store: store),
                SessionDelete(store: store, links: links), SessionMe(),
            ]
            if let links { all += [SessionQR(links: links), SessionPairingCode(links: links)] }
        }
        if configuration.diagnosticCommands { all.append(DiagnosticSleep()) }
        all += extraHandlers
        handlers = Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        self.links = links
    }

    /// The names of the commands this worker answers.
    public var commandNames: [String] { handlers.keys.sorted() }

    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { connection in
            connection.addTask { try await self.amqp.run() }
            await withDiscardingTaskGroup { work in
                if let links { work.addTask { await links.run() } }
                await withDiscardingTaskGroup { running in
                    // Not `cancelOnGracefulShutdown()`: it merges the stream with the shutdown signal,
                    // which costs every command an extra task hop. Graceful shutdown ends the stream
                    // instead, and the flag leaves deliveries still buffered then for the broker to
                    // requeue, as before.
                    let stopping = StopFlag()
                    await withGracefulShutdownHandler {
                        for await delivery in amqp.deliveries {
                            if stopping.isSet { break }
                            running.addTask { await self.process(delivery) }
                        }
                    } onGracefulShutdown: { [amqp] in
                        stopping.set()
                        amqp.finishDeliveries()
                    }
                    logger.info("Worker stopping: no new commands; finishing the ones in flight")
                    await amqp.stopConsuming()
                }
                // Commands are answered; now end the pairings (their last events still go out).
                links?.shutdown()
            }
            await amqp.shutdown()
            try await connection.waitForAll()
            logger.info("Worker stopped")
        }
    }

    // MARK: - One command

    func process(_ delivery: AMQPDelivery) async {
        let started = ContinuousClock.now
        let envelope = Envelope(delivery, names: configuration.names)
        let logger = CommandLog(logger: self.logger, command: envelope.command, correlationID: envelope.correlationID)
        logger.debug("Command started", metadata: ["amqp.redelivered": "\(delivery.redelivered)"])

        let key = envelope.messageID.map { messageID in
            IdempotencyCache.Key(command: envelope.command ?? "", messageID: messageID, credentialsDigest: Self.digest(envelope.authorization))
        }
        var reply: IdempotencyCache.Reply
        if let key, case .replay(let earlier) = await cache.start(key) {
            logger.info("Duplicate command answered from the earlier result", metadata: ["amqp.message_id": "\(key.messageID)"])
            reply = earlier
        } else if let key, let recorded = await recordedAnswer(key, envelope: envelope) {
            logger.info("Redelivered command answered from the fleet's record", metadata: ["amqp.message_id": "\(key.messageID)"])
            reply = recorded
            cache.complete(key, with: reply)
        } else {
            reply = await execute(envelope, delivery: delivery)
            if let key, reply.handled, reply.forwardTo == nil { await recordAnswer(reply, key: key, envelope: envelope) }
            if let worker = reply.forwardTo {
                // The owner answers (and remembers) it; a duplicate arriving here is forwarded again.
                if let key { cache.abandon(key) }
                if await forward(delivery, envelope: envelope, to: worker, logger: logger) { return }
                reply = IdempotencyCache.Reply(
                    status: 503, body: GatewayError(.unavailable, "the worker linking this session is gone; retry in a few seconds").body,
                    handled: true
                )
            } else if let key {
                cache.complete(key, with: reply)
            }
        }

        let delivered = await deliver(reply, for: envelope, delivery: delivery, logger: logger)
        let elapsed = ContinuousClock.now - started
        let command = reply.handled ? (envelope.command ?? "-") : "invalid"
        Counter(label: "walink_commands_total", dimensions: [("command", command), ("status", String(reply.status))]).increment()
        Timer(label: "walink_command_duration", dimensions: [("command", command)]).recordNanoseconds(elapsed.wholeNanoseconds)
        logger.log(
            level: reply.status >= 500 && reply.status != 501 ? .warning : .info,
            "Command answered",
            metadata: ["walink.status": "\(reply.status)", "walink.duration_ms": "\(elapsed.wholeMilliseconds)", "walink.delivered": "\(delivered)"]
        )
    }

    /// Runs the checks and the handler, in the documented order: command name (501), authentication
    /// (401), capability (403), body (400), then the handler (which checks the session: 404).
    func execute(_ envelope: Envelope, delivery: AMQPDelivery) async -> IdempotencyCache.Reply {
        var ran = false
        var caller: Caller? = nil
        var session: String? = nil
        do throws(GatewayError) {
            guard let name = envelope.command, !name.isEmpty else {
                throw GatewayError.invalidField(
                    "type", "no command name: publish to exchange walink.commands with the command as routing key, or set the type property"
                )
            }
            guard let handler = handlers[name] else {
                throw GatewayError(.notImplemented, "unknown command \(name)", details: ["command": .string(name)])
            }
            if handler.requiresAuthentication {
                let authenticated = try await authenticator.authenticate(envelope.authorization)
                guard authenticated.capabilities.contains(Caller.manage) else {
                    throw GatewayError(.forbidden, "this caller may not manage sessions", details: ["capability": .string(Caller.manage)])
                }
                caller = authenticated
            }
            let parameters = try parseBody(delivery)
            var sessionRecord: Session? = nil
            if handler.sessionRequirement == .existing {
                sessionRecord = try await lookUpSession(parameters, caller: caller)
            }
            try handler.parameters.validate(parameters)
            let request = CommandRequest(
                command: name, parameters: parameters, correlationID: envelope.correlationID,
                messageID: envelope.messageID, authorization: envelope.authorization, caller: caller,
                sessionRecord: sessionRecord
            )
            session = request.session
            ran = true
            let result = try await handler.handle(request)
            if let worker = result.forwardTo {
                guard envelope.forwardedBy == nil else {
                    throw GatewayError(.unavailable, "the session is busy on another worker; retry in a few seconds")
                }
                var forwarded = IdempotencyCache.Reply(status: 0, body: .null, handled: true)
                forwarded.forwardTo = worker
                return forwarded
            }
            return IdempotencyCache.Reply(
                status: result.status, body: result.body, handled: true, organization: caller?.organization, session: session)
        } catch {
            return IdempotencyCache.Reply(
                status: error.code.status, body: error.body, handled: ran, organization: caller?.organization, session: session)
        }
    }

    /// The session a command names, in the caller's organization: 404 when missing or foreign.
    func lookUpSession(_ parameters: JSONObject, caller: Caller?) async throws(GatewayError) -> Session {
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

    func parseBody(_ delivery: AMQPDelivery) throws(GatewayError) -> JSONObject {
        guard delivery.bodySize <= UInt64(configuration.maxBodySize), !delivery.isBodyDiscarded else {
            throw .invalidField(
                "body", "larger than \(configuration.maxBodySize) bytes",
                extra: ["limit": .int(Int64(configuration.maxBodySize)), "size": .int(Int64(clamping: delivery.bodySize))]
            )
        }
        // An empty body means no parameters, so `walink call worker.ping` needs no JSON.
        if delivery.body.isEmpty { return JSONObject() }
        let value: JSONValue
        do {
            value = try JSONParser.parse(delivery.body)
        } catch {
            throw .invalidField("body", "malformed JSON: \(error.reason)", extra: ["offset": .int(Int64(error.offset))])
        }
        guard case .object(let object) = value else {
            throw .invalidField("body", "must be a JSON object, not \(value.typeName)")
        }
        return object
    }

    // MARK: - Answers shared by the fleet

    private func sharedKey(_ key: IdempotencyCache.Key, envelope: Envelope) -> String? {
        guard replies != nil, let command = envelope.command, handlers[command]?.recordsAnswerInStore == true else { return nil }
        let material = "\(key.command)\u{0}\(key.messageID)\u{0}\(key.credentialsDigest)"
        return SHA256.hash(data: Array(material.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    func recordedAnswer(_ key: IdempotencyCache.Key, envelope: Envelope) async -> IdempotencyCache.Reply? {
        guard let replies, let shared = sharedKey(key, envelope: envelope),
            let stored = try? await replies.reply(key: shared),
            let body = try? JSONParser.parse(Array(stored.body))
        else { return nil }
        return IdempotencyCache.Reply(status: stored.status, body: body, handled: true)
    }

    func recordAnswer(_ reply: IdempotencyCache.Reply, key: IdempotencyCache.Key, envelope: Envelope) async {
        guard let replies, let shared = sharedKey(key, envelope: envelope) else { return }
        do {
            try await replies.saveReply(
                key: shared, status: reply.status, body: Data(reply.body.serialized), ttl: configuration.idempotencyTimeToLive)
        } catch {
            // The local cache still covers redeliveries to this worker.
            logger.warning("Answer not recorded in the store", metadata: ["walink.error": "\(error)"])
        }
    }

    // MARK: - Forwarding

    /// Hands a command to the worker that holds its session's live connection, keeping `reply_to`,
    /// `correlation_id` and everything else, so that worker answers the caller directly. Returns
    /// false when that worker's queue is gone.
    func forward(_ delivery: AMQPDelivery, envelope: Envelope, to worker: String, logger: CommandLog) async -> Bool {
        var properties = delivery.properties
        properties.type = envelope.command
        // RabbitMQ checks user_id against the publishing connection's user, which is ours now.
        properties.userID = nil
        var headers = properties.headers ?? AMQPTable()
        headers[Envelope.forwardedByHeader] = .string(configuration.workerID)
        properties.headers = headers
        do {
            let outcome = try await amqp.publish(
                AMQPMessage(body: delivery.body, properties: properties), exchange: "",
                routingKey: configuration.names.workerQueue(worker), mandatory: true, timeout: configuration.publishTimeout
            )
            guard outcome == .acked else { return false }
            amqp.ack(delivery)
            logger.info("Command forwarded to the session's worker", metadata: ["walink.owner": "\(worker)"])
            return true
        } catch {
            logger.warning("Forward not confirmed; command requeued", metadata: ["amqp.error": "\(error)"])
            amqp.reject(delivery, requeue: true)
            return true
        }
    }

    // MARK: - Answering

    /// Sends the answer where it belongs, then acks. Returns whether it was delivered.
    func deliver(_ reply: IdempotencyCache.Reply, for envelope: Envelope, delivery: AMQPDelivery, logger: CommandLog) async -> Bool {
        var headers: AMQPTable = ["status": .int32(Int32(reply.status))]
        let message: AMQPMessage
        let exchange: String
        let routingKey: String
        let mandatory: Bool
        if let replyTo = envelope.replyTo {
            let direct = replyTo.hasPrefix("amq.rabbitmq.reply-to")
            message = AMQPMessage(
                body: reply.body.serialized,
                properties: AMQPProperties(
                    contentType: "application/json", headers: headers,
                    deliveryMode: direct ? AMQPProperties.transientDeliveryMode : AMQPProperties.persistentDeliveryMode,
                    correlationID: envelope.correlationID, messageID: envelope.messageID
                ))
            exchange = ""
            routingKey = replyTo
            // Direct Reply-to on 3.10 answers mandatory publishes with a spurious return.
            mandatory = !direct
        } else if reply.handled {
            headers["command"] = .string(envelope.command ?? "")
            message = AMQPMessage(
                body: reply.body.serialized,
                properties: AMQPProperties(
                    contentType: "application/json", headers: headers, deliveryMode: AMQPProperties.persistentDeliveryMode,
                    correlationID: envelope.correlationID, messageID: envelope.messageID
                ))
            exchange = configuration.names.resultsExchange
            routingKey = Self.resultsRoutingKey(organization: reply.organization, session: reply.session, command: envelope.command ?? "-")
            mandatory = false
        } else {
            // Nobody to tell and nothing we can run: the queue's dead-letter exchange keeps the
            // original message, whole, in walink.dead.
            logger.warning("Unanswerable command dead-lettered", metadata: ["walink.status": "\(reply.status)"])
            amqp.reject(delivery, requeue: false)
            return false
        }

        do {
            // Once the broker confirms the answer, the connection thread acks the command itself.
            let outcome = try await amqp.publish(
                message, exchange: exchange, routingKey: routingKey, mandatory: mandatory, timeout: configuration.publishTimeout,
                acking: delivery
            )
            if case .returned = outcome {
                // The reply queue is gone: keep the answer in walink.dead rather than drop it. (A
                // returned answer did not ack the command: that happens here, once it is kept.)
                var dead = message
                dead.properties.headers?["x-walink-reason"] = .string("reply queue not found")
                dead.properties.headers?["x-walink-reply-to"] = .string(routingKey)
                _ = try await amqp.publish(
                    dead, exchange: configuration.names.deadExchange, routingKey: routingKey, timeout: configuration.publishTimeout)
                logger.warning("Reply queue not found; reply kept in walink.dead")
                amqp.ack(delivery)
            }
            return true
        } catch {
            // Not confirmed: requeue, and the redelivery is answered from the idempotency cache.
            logger.warning("Reply not confirmed; command requeued", metadata: ["amqp.error": "\(error)"])
            amqp.reject(delivery, requeue: true)
            return false
        }
    }

    static func resultsRoutingKey(organization: String?, session: String?, command: String) -> String {
        "\(organization ?? "-").\(session ?? "-").\(command)"
    }

    static func digest(_ authorization: String?) -> String {
        guard let authorization else { return "" }
        return SHA256.hash(data: Array(authorization.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

/// The log lines of one command: the worker's logger with the command's metadata, which is put
/// together only for lines the log level lets through. (Setting it on a copy of the logger made
/// StreamLogHandler render its metadata text again, twice per command, even at warning level.)
struct CommandLog: Sendable {
    let logger: Logger
    let command: String?
    let correlationID: String?

    var metadata: Logger.Metadata {
        var metadata: Logger.Metadata = ["walink.command": "\(command ?? "-")"]
        if let correlationID { metadata["amqp.correlation_id"] = "\(correlationID)" }
        return metadata
    }

    func log(
        level: Logger.Level, _ message: @autoclosure () -> Logger.Message, metadata extra: @autoclosure () -> Logger.Metadata = [:],
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        logger.log(level: level, message(), metadata: metadata.merging(extra()) { $1 }, file: file, function: function, line: line)
    }

    func debug(
        _ message: @autoclosure () -> Logger.Message, metadata extra: @autoclosure () -> Logger.Metadata = [:],
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        log(level: .debug, message(), metadata: extra(), file: file, function: function, line: line)
    }

    func info(
        _ message: @autoclosure () -> Logger.Message, metadata extra: @autoclosure () -> Logger.Metadata = [:],
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        log(level: .info, message(), metadata: extra(), file: file, function: function, line: line)
    }

    func warning(
        _ message: @autoclosure () -> Logger.Message, metadata extra: @autoclosure () -> Logger.Metadata = [:],
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        log(level: .warning, message(), metadata: extra(), file: file, function: function, line: line)
    }
}

/// Set once, read from any thread.
private final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

/// The parts of a delivery the worker reads before running anything.
struct Envelope: Sendable {
    var command: String?
    var replyTo: String?
    var correlationID: String?
    var messageID: String?
    var authorization: String?
    /// Set on commands another worker forwarded here (they are never forwarded twice).
    var forwardedBy: String?

    static let forwardedByHeader = "x-walink-forwarded-by"

    init(_ delivery: AMQPDelivery, names: WalinkNames) {
        // Routing key when sent through walink.commands; the type property when sent straight to
        // the queue (whose routing key is then the queue name).
        if delivery.exchange == names.commandsExchange {
            command = delivery.routingKey
        } else if let type = delivery.properties.type, !type.isEmpty {
            command = type
        } else {
            command = nil
        }
        replyTo = delivery.properties.replyTo.flatMap { $0.isEmpty ? nil : $0 }
        correlationID = delivery.properties.correlationID
        messageID = delivery.properties.messageID.flatMap { $0.isEmpty ? nil : $0 }
        authorization = delivery.properties.headers?["authorization"]?.stringValue
        forwardedBy = delivery.properties.headers?[Self.forwardedByHeader]?.stringValue
    }
}
