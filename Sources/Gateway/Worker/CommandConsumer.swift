import AMQP
import Logging
import Metrics
import ServiceLifecycle

/// The AMQP side of the worker: takes deliveries from `walink.commands` and this worker's own
/// queue, hands each to the ``CommandPipeline``, and carries out its outcome: the answer goes to
/// `reply_to` (or `walink.results`), a command for another worker's session is forwarded there, and
/// a command nobody can be told about is dead-lettered. Each delivery is acked only once its answer
/// or forward was confirmed by the broker.
///
/// Graceful shutdown (after ``CommandIntake`` left `walink.commands` and the links drained): cancel
/// the remaining consumer, answer every command received (in flight or still buffered), then
/// return. Nothing is left for the broker to requeue, so a scale-in adds nothing to any command's
/// delivery count.
public final class CommandConsumer: Service, Sendable {
    let amqp: AMQPClient
    let pipeline: CommandPipeline
    let configuration: WorkerConfiguration
    let metrics = CommandMetrics()
    let logger: Logger
    /// How long a forwarded command waits in the owner's queue: the worker lease and a second. An
    /// owner that died holds its sessions at most a lease longer, so by the time the command expires
    /// back into `walink.commands` (the queue's dead-letter route) another worker can take the session.
    let forwardTimeToLive: Duration

    init(amqp: AMQPClient, pipeline: CommandPipeline, configuration: WorkerConfiguration, forwardTimeToLive: Duration, logger: Logger) {
        self.amqp = amqp
        self.pipeline = pipeline
        self.configuration = configuration
        self.forwardTimeToLive = forwardTimeToLive
        self.logger = logger
    }

    public func run() async {
        // A fixed set of worker tasks share the delivery sequence, one command at a time each, rather
        // than a new task per delivery: the broker's prefetch already bounds the commands in flight,
        // and a long-lived task keeps its stack allocator warm, so a command costs no task creation
        // and no hop through a reading loop. One worker per prefetch slot, so no delivery waits for
        // a worker while another is busy (a previous connection's commands may still be finishing).
        //
        // The workers run on the connection's own thread (its executor): a command is resumed by
        // its delivery, answered and resumed by its confirm where the connection reads and writes,
        // with no hand-off to another thread and back. Commands only compute briefly and `await`
        // everything else (the store, links, other workers), so the connection is never held up
        // for long; a handler with heavy work of its own must move it off this executor.
        let workers = max(1, amqp.consumers.reduce(0) { $0 + Int($1.prefetch) })
        await withDiscardingTaskGroup { running in
            for _ in 0..<workers {
                running.addTask(executorPreference: amqp.executor) {
                    // Every delivery received is run, also those still buffered at graceful shutdown:
                    // given back, each would count as a delivery against the queue's limit on 3.10.
                    for await delivery in self.amqp.deliveries { await self.process(delivery) }
                }
            }
            // Graceful shutdown ends the deliveries (not `cancelOnGracefulShutdown()`, which would
            // cancel the commands in flight), but only once the broker confirmed the basic.cancel:
            // from then on nothing new arrives, so the workers finish all they hold and stop, and
            // the connection closes with no command unacked (none counted as a failed delivery).
            await withGracefulShutdownHandler {
                await amqp.deliveries.ended()
            } onGracefulShutdown: { [amqp] in
                Task {
                    await amqp.stopConsuming()
                    amqp.finishDeliveries()
                }
            }
            logger.info("Worker stopping: no new commands; finishing the ones in flight")
        }
        logger.info("Commands in flight answered")
    }

    // MARK: - One command

    nonisolated(nonsending) func process(_ delivery: AMQPDelivery) async {
        let started = ContinuousClock.now
        let envelope = CommandEnvelope(delivery, names: configuration.names)
        let log = CommandLog(logger: logger, command: envelope.command, correlationID: envelope.correlationID)
        // Not run here: re-published (or dead-lettered), so "Command started" below means it runs.
        if let deliveries = delivery.properties.headers?["x-delivery-count"]?.intValue, deliveries >= configuration.deliveryLimit - 1,
            !delivery.isBodyDiscarded
        {
            await renew(delivery, deliveries: deliveries, log: log)
            return
        }
        log.debug("Command started", metadata: ["amqp.redelivered": "\(delivery.redelivered)"])

        var answer: CommandAnswer
        switch await pipeline.run(envelope) {
        case .answer(let pipelineAnswer):
            answer = pipelineAnswer
        case .forward(let worker):
            if await forward(delivery, envelope: envelope, to: worker, log: log) { return }
            answer = CommandAnswer(
                GatewayError(.unavailable, "the worker linking this session is gone; retry in a few seconds"), handled: true)
        }

        let route = ReplyRoute(replyTo: delivery.properties.replyTo, answer: answer, command: envelope.command, names: configuration.names)
        let delivered = await deliver(answer, route: route, envelope: envelope, delivery: delivery, log: log)
        let elapsed = ContinuousClock.now - started
        metrics.record(command: answer.handled ? (envelope.command ?? "-") : "invalid", status: answer.status, duration: elapsed)
        log.log(
            level: answer.status >= 500 && answer.status != 501 ? .warning : .info,
            "Command answered",
            metadata: [
                "walink.status": "\(answer.status)", "walink.duration_ms": "\(elapsed.wholeMilliseconds)", "walink.delivered": "\(delivered)",
            ]
        )
    }

    // MARK: - Delivery count

    /// Puts a command near the queue's delivery limit back as a new message, its count carried in
    /// ``CommandEnvelope/deliveriesHeader``, or dead-letters it once that total reaches
    /// ``WorkerConfiguration/attemptLimit``.
    ///
    /// Why: RabbitMQ 3.10's quorum queue counts every return in `x-delivery-count`, and a worker
    /// that dies (SIGKILL, OOM, its node lost) returns every command it held, up to its prefetch.
    /// A healthy command that was merely there when workers died would be dead-lettered after the
    /// queue's 5; neither the broker nor a worker can tell it from the command that killed them.
    /// The queue's argument cannot change on a running broker (redeclaring fails), so the worker
    /// raises the bound itself: a command arriving one return short of the limit is re-published
    /// (confirmed, then the original acked), and only a command that has been through
    /// `attemptLimit` deliveries in all is dead-lettered as poison. Re-published one short, a kill
    /// between the delivery and the confirm still leaves it a delivery. If the worker dies after
    /// the confirm but before the ack, the command exists twice: `message_id` deduplication
    /// answers the second from the recorded answer.
    nonisolated(nonsending) func renew(_ delivery: AMQPDelivery, deliveries: Int, log: CommandLog) async {
        var properties = delivery.properties
        var headers = properties.headers ?? AMQPTable()
        let total = (headers[CommandEnvelope.deliveriesHeader]?.intValue ?? 0) + deliveries
        guard total < configuration.attemptLimit else {
            log.warning("Command dead-lettered: delivered too often", metadata: ["walink.deliveries": "\(total)"])
            amqp.reject(delivery, requeue: false)
            return
        }
        headers[CommandEnvelope.deliveriesHeader] = .int32(Int32(clamping: total))
        headers["x-delivery-count"] = nil
        properties.headers = headers
        // RabbitMQ checks user_id against the publishing connection's user, which is ours now.
        properties.userID = nil
        do {
            // The same exchange and routing key: the command name travels as it came.
            let outcome = try await amqp.publish(
                AMQPMessage(body: delivery.body, properties: properties), exchange: delivery.exchange, routingKey: delivery.routingKey,
                mandatory: true, timeout: configuration.publishTimeout, acking: delivery)
            guard outcome == .acked else {
                log.warning("Command not re-published; requeued", metadata: ["amqp.outcome": "\(outcome)"])
                amqp.reject(delivery, requeue: true)
                return
            }
            log.info("Command re-published near the delivery limit", metadata: ["walink.deliveries": "\(total)"])
        } catch {
            log.warning("Command not re-published; requeued", metadata: ["amqp.error": "\(error)"])
            amqp.reject(delivery, requeue: true)
        }
    }

    // MARK: - Forwarding

    /// Hands a command to the worker that holds its session's live connection, keeping `reply_to`,
    /// `correlation_id` and everything else, so that worker answers the caller directly. Returns
    /// false when that worker's queue is gone.
    nonisolated(nonsending) func forward(_ delivery: AMQPDelivery, envelope: CommandEnvelope, to worker: String, log: CommandLog) async -> Bool {
        var properties = delivery.properties
        properties.type = envelope.command
        // RabbitMQ checks user_id against the publishing connection's user, which is ours now.
        properties.userID = nil
        var headers = properties.headers ?? AMQPTable()
        headers[CommandEnvelope.forwardedByHeader] = .string(configuration.workerID)
        properties.headers = headers
        // The caller's own expiration, if shorter, still applies.
        let timeToLive = forwardTimeToLive.wholeMilliseconds
        properties.expiration = String(min(timeToLive, properties.expiration.flatMap { Int64($0) } ?? timeToLive))
        do {
            let outcome = try await amqp.publish(
                AMQPMessage(body: delivery.body, properties: properties), exchange: "",
                routingKey: configuration.names.workerQueue(worker), mandatory: true, timeout: configuration.publishTimeout
            )
            guard outcome == .acked else { return false }
            amqp.ack(delivery)
            log.info("Command forwarded to the session's worker", metadata: ["walink.owner": "\(worker)"])
            return true
        } catch {
            log.warning("Forward not confirmed; command requeued", metadata: ["amqp.error": "\(error)"])
            amqp.reject(delivery, requeue: true)
            return true
        }
    }

    // MARK: - Answering

    /// Sends the answer where it belongs, then acks. Returns whether it was delivered.
    nonisolated(nonsending) func deliver(
        _ answer: CommandAnswer, route: ReplyRoute, envelope: CommandEnvelope, delivery: AMQPDelivery, log: CommandLog
    ) async -> Bool {
        guard let publication = route.publication(of: answer, envelope: envelope, resultsExchange: configuration.names.resultsExchange) else {
            // Nobody to tell and nothing we can run: the queue's dead-letter exchange keeps the
            // original message, whole, in walink.dead.
            log.warning("Unanswerable command dead-lettered", metadata: ["walink.status": "\(answer.status)"])
            amqp.reject(delivery, requeue: false)
            return false
        }
        do {
            // Once the broker confirms the answer, the connection thread acks the command itself.
            let outcome = try await amqp.publish(
                publication.message, exchange: publication.exchange, routingKey: publication.routingKey, mandatory: publication.mandatory,
                timeout: configuration.publishTimeout, acking: delivery
            )
            if case .returned = outcome {
                // The reply queue is gone: keep the answer in walink.dead rather than drop it. (A
                // returned answer did not ack the command: that happens here, once it is kept.)
                var dead = publication.message
                dead.properties.headers?["x-walink-reason"] = .string("reply queue not found")
                dead.properties.headers?["x-walink-reply-to"] = .string(publication.routingKey)
                _ = try await amqp.publish(
                    dead, exchange: configuration.names.deadExchange, routingKey: publication.routingKey, timeout: configuration.publishTimeout)
                log.warning("Reply queue not found; reply kept in walink.dead")
                amqp.ack(delivery)
            }
            return true
        } catch {
            // Not confirmed: requeue, and the redelivery is answered from the idempotency cache.
            log.warning("Reply not confirmed; command requeued", metadata: ["amqp.error": "\(error)"])
            amqp.reject(delivery, requeue: true)
            return false
        }
    }
}

extension CommandEnvelope {
    static let forwardedByHeader = "x-walink-forwarded-by"
    /// Deliveries of a command before a worker re-published it (see ``CommandConsumer/renew(_:deliveries:log:)``).
    static let deliveriesHeader = "x-walink-deliveries"

    /// The command in a delivery: named by the routing key when sent through `walink.commands`, or
    /// by the `type` property when sent straight to the queue (whose routing key is then the queue
    /// name).
    init(_ delivery: AMQPDelivery, names: WalinkNames) {
        let command: String?
        if delivery.exchange == names.commandsExchange {
            command = delivery.routingKey
        } else if let type = delivery.properties.type, !type.isEmpty {
            command = type
        } else {
            command = nil
        }
        let headers = delivery.properties.headers
        self.init(
            command: command,
            correlationID: delivery.properties.correlationID,
            messageID: delivery.properties.messageID.flatMap { $0.isEmpty ? nil : $0 },
            authorization: headers?["authorization"]?.stringValue,
            forwardedBy: headers?[Self.forwardedByHeader]?.stringValue,
            expiresIn: delivery.properties.expiration.flatMap { Int64($0) }.map { .milliseconds($0) },
            body: delivery.isBodyDiscarded ? .tooLarge(size: delivery.bodySize) : .bytes(delivery.body)
        )
    }
}
