import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A RabbitMQ client on rabbitmq-c: one connection, owned by one dedicated thread.
///
/// rabbitmq-c is synchronous, not thread-safe per connection, and services heartbeats only inside its
/// own calls. So a single thread owns the connection and loops: it sends what async callers queued
/// (publishes, acks), reads every incoming frame (deliveries, confirms, returns, cancels, closes),
/// and waits in `poll(2)` on the socket and a wake-up pipe in between, so it reacts at once to both
/// and never goes long without calling into the library. Callers never touch the connection.
///
/// After a lost connection or a broker restart the thread reconnects with backoff, declares the
/// topology again, re-creates the consumers and carries on; publishes that were not yet confirmed are
/// sent again (at-least-once), and deliveries from the old connection can no longer be acked (the
/// broker has requeued them).
///
/// With several nodes in the configuration, the client goes round them in an order it shuffles
/// once, when it is made: every reconnect goes to the next node, failed attempts move on at once,
/// and a round in which every node failed backs off. A node that takes publishes but confirms none
/// of them within ``AMQPConfiguration/confirmTimeout`` is left like a lost connection.
///
/// Lifetime: call ``run()`` (it returns after ``shutdown()`` or when cancelled); the other methods
/// work while it runs. As a `Service` in a `ServiceGroup`, graceful shutdown does what ``shutdown()``
/// does: what was queued is sent and confirmed, then the connection closes; put it first in the
/// group so it stops last, after the services that publish through it.
public final class AMQPClient: Service, Sendable {
    public let configuration: AMQPConfiguration
    public let topology: AMQPTopology
    public let consumers: [AMQPConsumerSpec]
    /// Stop reconnecting after this many failed attempts in a row at every node (rounds over the
    /// nodes in which each attempt failed; nil: never give up).
    public let maxConnectAttempts: Int?
    /// The configured nodes in the order this client tries them, shuffled once.
    public var nodeOrder: [AMQPConfiguration.Node] { nodeRotation.order }
    let nodeRotation: NodeRotation
    let logger: Logger

    /// Every message delivered to our consumers, across reconnects; several tasks may share it.
    public let deliveries: AMQPDeliveries
    let deliveryChannel: DeliveryChannel

    let shared: Mutex<SharedState>
    let wakeup: WakeupPipe

    /// Runs tasks on the connection thread (see ``AMQPConnectionExecutor``): for short work that
    /// mostly waits on this connection, such as answering its deliveries.
    public let executor: AMQPConnectionExecutor

    public init(
        configuration: AMQPConfiguration,
        topology: AMQPTopology = AMQPTopology(),
        consumers: [AMQPConsumerSpec] = [],
        maxConnectAttempts: Int? = nil,
        logger: Logger = Logger(label: "walink.amqp")
    ) {
        self.configuration = configuration
        self.topology = topology
        self.consumers = consumers
        self.maxConnectAttempts = maxConnectAttempts
        self.logger = logger
        nodeRotation = NodeRotation(nodes: configuration.nodes)
        deliveryChannel = DeliveryChannel()
        deliveries = AMQPDeliveries(channel: deliveryChannel)
        shared = Mutex(SharedState())
        wakeup = WakeupPipe()
        executor = AMQPConnectionExecutor(wakeup: wakeup)
    }

    // MARK: - Running

    /// Runs the connection thread until ``shutdown()``, graceful shutdown or task cancellation.
    /// Throws only when it gives up after ``maxConnectAttempts`` failed attempts.
    public func run() async throws {
        let finished = shared.withLock { state -> Bool in
            if state.hasRun { return true }
            state.hasRun = true
            return false
        }
        guard !finished else { throw AMQPError(.shutdown, "run() can be called only once") }
        try await withGracefulShutdownHandler {
            try await runConnectionThread()
        } onGracefulShutdown: {
            _ = self.enqueue(.close(nil))
        }
    }

    private func runConnectionThread() async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let thread = Thread { [self] in
                    executor.attach()
                    let driver = ConnectionDriver(client: self)
                    let result = driver.runUntilShutdown()
                    executor.detach()
                    self.finishAfterThreadExit(reason: result)
                    continuation.resume(with: result)
                }
                thread.name = "walink-amqp"
                thread.start()
            }
        } onCancel: {
            self.requestShutdown()
        }
    }

    /// Resolves when the client is connected with topology and consumers in place (at once if it is).
    public func waitUntilConnected() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let outcome = shared.withLock { state -> Result<Void, AMQPError>? in
                if state.isConnected { return .success(()) }
                if state.isFinished { return .failure(state.gaveUpBecause ?? AMQPError(.shutdown)) }
                state.connectedWaiters.append(continuation)
                return nil
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }

    /// Whether the client is connected right now.
    public var isConnected: Bool { shared.withLock { $0.isConnected } }

    /// How many times a connection has been established (1 after the first connect).
    public var connectionCount: UInt64 { shared.withLock { $0.connectionCount } }

    /// The node of the current connection, or of the last one while reconnecting (nil before the
    /// first connect).
    public var connectedNode: AMQPConfiguration.Node? { shared.withLock { $0.connectedNode } }

    /// Whether the broker has blocked this connection (resource alarm); publishes wait meanwhile.
    public var isBlocked: Bool { blockedSince != nil }

    /// When the broker blocked this connection, while it does. What was written to the socket before
    /// went to the broker, which reads it only once the block ends.
    public var blockedSince: ContinuousClock.Instant? { shared.withLock { $0.blockedSince } }

    /// Cancels the consumers so no further deliveries arrive; deliveries already received can still
    /// be acked. Returns once the broker confirmed the cancel (or the connection is gone).
    public func stopConsuming() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            if !enqueue(.stopConsuming(queue: nil, continuation)) { continuation.resume() }
        }
    }

    /// Cancels the consumer of `queue` only (a draining worker leaves the shared queue to others and
    /// keeps its own); it stays cancelled across reconnects. Returns once the broker confirmed it
    /// (or the connection is gone).
    public func stopConsuming(queue: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            if !enqueue(.stopConsuming(queue: queue, continuation)) { continuation.resume() }
        }
    }

    /// Ends ``deliveries`` for its readers: an iteration waiting for the next delivery gets the ones
    /// already buffered and then nil, instead of waiting. The connection itself carries on (acks,
    /// publishes, ``stopConsuming()``); later deliveries are not handed out, and the broker
    /// requeues them when the connection closes.
    public func finishDeliveries() {
        deliveryChannel.finish()
    }

    /// Sends everything queued so far (acks, publishes), waits for outstanding confirms, closes the
    /// connection and ends ``run()``.
    public func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            if !enqueue(.close(continuation)) { continuation.resume() }
        }
    }

    // MARK: - Publishing

    /// Publishes a message and waits until the broker confirms it (publisher confirms).
    ///
    /// If the connection drops first, the message is sent again on the next connection. With
    /// `mandatory`, a message no queue takes comes back as ``AMQPPublishOutcome/returned(replyCode:replyText:)``.
    ///
    /// With `acking`, the connection thread acks that delivery itself the moment the broker confirms
    /// this message with ``AMQPPublishOutcome/acked`` (a reply, then the request it answers), which
    /// spares a round trip through the caller. If the message is returned, nacked, times out or
    /// fails, or the delivery came over an earlier connection, the delivery is not acked: settling
    /// it is then up to the caller, who must not ack it again after an `.acked` outcome.
    ///
    /// With `expiresAt`, the message is worthless after that instant (a QR code): its AMQP
    /// `expiration` is computed from it at the moment the frame is written, so time spent waiting
    /// here (a blocked connection, a reconnect) is not given to the consumer; once the instant has
    /// passed, the message is dropped unsent and the call throws ``AMQPError/Code/messageExpired``.
    nonisolated(nonsending) public func publish(
        _ message: AMQPMessage,
        exchange: String,
        routingKey: String,
        mandatory: Bool = false,
        timeout: Duration = .seconds(30),
        expiresAt: ContinuousClock.Instant? = nil,
        acking delivery: AMQPDelivery? = nil
    ) async throws(AMQPError) -> AMQPPublishOutcome {
        let ackOnConfirm = delivery.flatMap { $0.noAck ? nil : (generation: $0.connectionGeneration, tag: $0.deliveryTag) }
        // Unsafe rather than checked: the connection thread settles every request exactly once
        // (confirm, nack, deadline, or failing what is left when it stops), and a checked
        // continuation costs an allocation and a runtime type lookup on every publish.
        let result: Result<AMQPPublishOutcome, AMQPError> = await withUnsafeContinuation { continuation in
            let request = PublishRequest(
                exchange: exchange,
                routingKey: routingKey,
                mandatory: mandatory,
                message: message,
                deadline: ContinuousClock.now.advanced(by: timeout),
                expiresAt: expiresAt,
                ackOnConfirm: ackOnConfirm,
                continuation: continuation
            )
            if !enqueue(.publish(request)) { continuation.resume(returning: .failure(AMQPError(.shutdown))) }
        }
        return try result.get()
    }

    // MARK: - Acknowledging

    /// Acknowledges a delivery. Ignored for deliveries of an earlier connection (already requeued by
    /// the broker) and for no-ack consumers.
    public func ack(_ delivery: AMQPDelivery) {
        guard !delivery.noAck else { return }
        _ = enqueue(.ack(generation: delivery.connectionGeneration, tag: delivery.deliveryTag))
    }

    /// Rejects a delivery; with `requeue: false` the queue's dead-letter exchange receives it.
    public func reject(_ delivery: AMQPDelivery, requeue: Bool) {
        guard !delivery.noAck else { return }
        _ = enqueue(.reject(generation: delivery.connectionGeneration, tag: delivery.deliveryTag, requeue: requeue))
    }

    // MARK: - Ad-hoc declarations

    /// Declares a queue now (and not again after a reconnect). An empty name asks the broker for a
    /// generated one. Returns the queue's name.
    public func declareQueue(_ queue: AMQPTopology.Queue) async throws(AMQPError) -> String {
        let result: Result<String, AMQPError> = await withCheckedContinuation { continuation in
            if !enqueue(.declareQueue(queue, continuation)) { continuation.resume(returning: .failure(AMQPError(.shutdown))) }
        }
        return try result.get()
    }

    /// Whether a queue exists, checked with a passive declare on a throw-away channel (a missing
    /// queue closes that channel, not ours).
    public func queueExists(_ name: String) async throws(AMQPError) -> Bool {
        let result: Result<Bool, AMQPError> = await withCheckedContinuation { continuation in
            if !enqueue(.queueExists(name, continuation)) { continuation.resume(returning: .failure(AMQPError(.shutdown))) }
        }
        return try result.get()
    }

    /// Deletes a queue (its consumers are cancelled by the broker). Deleting a missing queue succeeds.
    public func deleteQueue(_ name: String) async throws(AMQPError) {
        let result: Result<Bool, AMQPError> = await withCheckedContinuation { continuation in
            if !enqueue(.deleteQueue(name, continuation)) { continuation.resume(returning: .failure(AMQPError(.shutdown))) }
        }
        _ = try result.get()
    }

    // MARK: - Internals shared with the driver

    /// One publish on its way: a class, so that the outbox, the unsent list and the confirm tracker
    /// pass one reference around instead of copying a message's dozen strings at every step.
    final class PublishRequest: Sendable {
        let exchange: String
        let routingKey: String
        let mandatory: Bool
        let message: AMQPMessage
        let deadline: ContinuousClock.Instant
        /// When the message itself goes stale (see ``publish(_:exchange:routingKey:mandatory:timeout:expiresAt:acking:)``).
        let expiresAt: ContinuousClock.Instant?
        /// A delivery to ack once this publish is confirmed (see ``publish(_:exchange:routingKey:mandatory:timeout:expiresAt:acking:)``).
        let ackOnConfirm: (generation: UInt64, tag: UInt64)?
        let continuation: UnsafeContinuation<Result<AMQPPublishOutcome, AMQPError>, Never>

        init(
            exchange: String, routingKey: String, mandatory: Bool, message: AMQPMessage, deadline: ContinuousClock.Instant,
            expiresAt: ContinuousClock.Instant?, ackOnConfirm: (generation: UInt64, tag: UInt64)?,
            continuation: UnsafeContinuation<Result<AMQPPublishOutcome, AMQPError>, Never>
        ) {
            self.exchange = exchange
            self.routingKey = routingKey
            self.mandatory = mandatory
            self.message = message
            self.deadline = deadline
            self.expiresAt = expiresAt
            self.ackOnConfirm = ackOnConfirm
            self.continuation = continuation
        }
    }

    enum Command {
        case publish(PublishRequest)
        case ack(generation: UInt64, tag: UInt64)
        case reject(generation: UInt64, tag: UInt64, requeue: Bool)
        case declareQueue(AMQPTopology.Queue, CheckedContinuation<Result<String, AMQPError>, Never>)
        case queueExists(String, CheckedContinuation<Result<Bool, AMQPError>, Never>)
        case deleteQueue(String, CheckedContinuation<Result<Bool, AMQPError>, Never>)
        /// `queue` nil: every consumer.
        case stopConsuming(queue: String?, CheckedContinuation<Void, Never>)
        case close(CheckedContinuation<Void, Never>?)
    }

    struct SharedState {
        var outbox: [Command] = []
        /// A wake-up byte is in the pipe and the thread has not taken the outbox since: further
        /// commands need no byte of their own (one wake-up per batch, not per command).
        var wakeupPending = false
        var hasRun = false
        var isFinished = false
        /// Why the client stopped, when it gave up connecting (see ``maxConnectAttempts``).
        var gaveUpBecause: AMQPError?
        var isConnected = false
        var blockedSince: ContinuousClock.Instant?
        var connectionCount: UInt64 = 0
        var connectedNode: AMQPConfiguration.Node?
        var abortRequested = false
        var connectedWaiters: [CheckedContinuation<Void, any Error>] = []
    }

    /// Queues a command for the connection thread; false once the client has finished.
    func enqueue(_ command: Command) -> Bool {
        // The connection thread itself (a task on ``executor``) needs no wake-up: it takes the
        // outbox before it sleeps.
        let onConnectionThread = executor.isOnConnectionThread
        let (accepted, signal) = shared.withLock { state -> (Bool, Bool) in
            guard !state.isFinished else { return (false, false) }
            state.outbox.append(command)
            guard !state.wakeupPending, !onConnectionThread else { return (true, false) }
            state.wakeupPending = true
            return (true, true)
        }
        if signal { wakeup.signal() }
        return accepted
    }

    /// Whether commands wait in the outbox.
    var hasCommands: Bool { shared.withLock { !$0.outbox.isEmpty } }

    func takeCommands() -> [Command] {
        var commands: [Command] = []
        takeCommands(into: &commands)
        return commands
    }

    /// Moves the outbox into `buffer` (which must be empty) by swapping storage, so that a thread
    /// reusing its buffer allocates nothing. Clears the pending wake-up: a command queued after
    /// this signals again.
    func takeCommands(into buffer: inout [Command]) {
        precondition(buffer.isEmpty)
        shared.withLock { state in
            state.wakeupPending = false
            swap(&buffer, &state.outbox)
        }
    }

    /// Puts commands the thread took but could not handle (its connection broke midway) back in
    /// front of the outbox, in order, for the next connection or for shutdown to deal with.
    func returnCommands(_ commands: ArraySlice<Command>) {
        guard !commands.isEmpty else { return }
        shared.withLock { state in
            state.outbox.insert(contentsOf: commands, at: 0)
        }
    }

    /// Stops the connection thread now, without waiting for confirms (task cancellation).
    func requestShutdown() {
        shared.withLock { $0.abortRequested = true }
        wakeup.signal()
    }

    var isAbortRequested: Bool { shared.withLock { $0.abortRequested } }

    func setBlocked(_ blocked: Bool) {
        let now = ContinuousClock.now
        shared.withLock { state in
            if !blocked {
                state.blockedSince = nil
            } else if state.blockedSince == nil {
                state.blockedSince = now
            }
        }
    }

    func setConnected(_ connected: Bool, to node: AMQPConfiguration.Node? = nil) {
        let waiters = shared.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.isConnected = connected
            guard connected else { return [] }
            state.connectedNode = node
            state.connectionCount += 1
            defer { state.connectedWaiters.removeAll() }
            return state.connectedWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Called on the connection thread as it exits: fails whatever is still queued. Those waiting
    /// for a connection learn why there will be none: the last connect error when the client gave
    /// up (so a caller racing ``run()`` and ``waitUntilConnected()`` reports the real reason).
    private func finishAfterThreadExit(reason: Result<Void, any Error>) {
        let gaveUpBecause: AMQPError? = if case .failure(let error as AMQPError) = reason { error } else { nil }
        let (commands, waiters) = shared.withLock { state in
            state.isFinished = true
            state.isConnected = false
            state.gaveUpBecause = gaveUpBecause
            defer {
                state.outbox.removeAll()
                state.connectedWaiters.removeAll()
            }
            return (state.outbox, state.connectedWaiters)
        }
        for command in commands { Self.fail(command, with: AMQPError(.shutdown)) }
        for waiter in waiters { waiter.resume(throwing: gaveUpBecause ?? AMQPError(.shutdown)) }
        deliveryChannel.finish()
    }

    static func fail(_ command: Command, with error: AMQPError) {
        switch command {
        case .publish(let request): request.continuation.resume(returning: .failure(error))
        case .declareQueue(_, let continuation): continuation.resume(returning: .failure(error))
        case .queueExists(_, let continuation), .deleteQueue(_, let continuation):
            continuation.resume(returning: .failure(error))
        case .stopConsuming(_, let continuation): continuation.resume()
        case .close(let continuation): continuation?.resume()
        case .ack, .reject: break
        }
    }
}
