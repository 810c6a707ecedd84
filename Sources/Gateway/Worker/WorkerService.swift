import AMQP
import Crypto
import Logging
import Metrics
import ServiceLifecycle
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
    let cache: IdempotencyCache
    let logger: Logger

    public init(
        configuration: WorkerConfiguration,
        handlers extraHandlers: [any CommandHandler] = [],
        authenticator: (any Authenticator)? = nil,
        logger: Logger = Logger(label: "walink.worker")
    ) {
        self.configuration = configuration
        self.logger = logger
        self.authenticator = authenticator ?? NoAuthenticator()
        var all: [any CommandHandler] = [WorkerPing(workerID: configuration.workerID)]
        if configuration.diagnosticCommands { all.append(DiagnosticSleep()) }
        all += extraHandlers
        handlers = Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        cache = IdempotencyCache(timeToLive: configuration.idempotencyTimeToLive, capacity: configuration.idempotencyCapacity)
        var amqpConfiguration = configuration.amqp
        amqpConfiguration.connectionName = "walink worker \(configuration.workerID)"
        // Bodies above the limit are answered with a 400 without being kept in memory.
        amqpConfiguration.maxRetainedBodySize = configuration.maxBodySize
        amqp = AMQPClient(
            configuration: amqpConfiguration,
            topology: WalinkTopology.topology(
                commandNames: Array(handlers.keys), deliveryLimit: configuration.deliveryLimit, names: configuration.names
            ),
            consumers: [AMQPConsumerSpec(queue: configuration.names.commandsQueue, prefetch: configuration.concurrency)],
            logger: logger
        )
    }

    /// The names of the commands this worker answers.
    public var commandNames: [String] { handlers.keys.sorted() }

    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.amqp.run() }
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
            await amqp.shutdown()
            try await group.waitForAll()
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
        let reply: IdempotencyCache.Reply
        if let key, case .replay(let earlier) = await cache.start(key) {
            logger.info("Duplicate command answered from the earlier result", metadata: ["amqp.message_id": "\(key.messageID)"])
            reply = earlier
        } else {
            reply = await execute(envelope, delivery: delivery)
            if let key { cache.complete(key, with: reply) }
        }

        let delivered = await deliver(reply, for: envelope, delivery: delivery, logger: logger)
        let milliseconds = Double((ContinuousClock.now - started).components.attoseconds) / 1e15
            + Double((ContinuousClock.now - started).components.seconds) * 1000
        let command = reply.handled ? (envelope.command ?? "-") : "invalid"
        Counter(label: "walink_commands_total", dimensions: [("command", command), ("status", String(reply.status))]).increment()
        Timer(label: "walink_command_duration", dimensions: [("command", command)]).recordNanoseconds(Int64(milliseconds * 1_000_000))
        logger.log(
            level: reply.status >= 500 && reply.status != 501 ? .warning : .info,
            "Command answered",
            metadata: ["walink.status": "\(reply.status)", "walink.duration_ms": "\(Int(milliseconds))", "walink.delivered": "\(delivered)"]
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
            try handler.parameters.validate(parameters)
            let request = CommandRequest(
                command: name, parameters: parameters, correlationID: envelope.correlationID,
                messageID: envelope.messageID, authorization: envelope.authorization, caller: caller
            )
            session = request.session
            ran = true
            let result = try await handler.handle(request)
            return IdempotencyCache.Reply(status: result.status, body: result.body, handled: true, organization: caller?.organization, session: session)
        } catch {
            return IdempotencyCache.Reply(status: error.code.status, body: error.body, handled: ran, organization: caller?.organization, session: session)
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
            message = AMQPMessage(body: reply.body.serialized, properties: AMQPProperties(
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
            message = AMQPMessage(body: reply.body.serialized, properties: AMQPProperties(
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
                _ = try await amqp.publish(dead, exchange: configuration.names.deadExchange, routingKey: routingKey, timeout: configuration.publishTimeout)
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
        return SHA256.hash(data: Array(authorization.utf8)).map { String($0, radix: 16) }.joined()
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
    }
}
