import CRabbitMQ
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The connection thread's side of ``AMQPClient``: owns the rabbitmq-c connection state and is only
/// ever used by that one thread (created, used and dropped inside the thread's closure).
final class ConnectionDriver {
    /// The channel for everything: consumers, publishes (confirm mode) and acks.
    private static let channel: amqp_channel_t = 1
    /// A throw-away channel for passive declares, whose failure closes the channel.
    private static let probeChannel: amqp_channel_t = 2
    /// Header that identifies a mandatory publish when the broker returns it.
    static let publishSequenceHeader = "x-walink-publish-seq"

    private enum ServeExit { case closed }

    // The state below is used on the connection thread only. The hot parts are marked
    // `@exclusivity(unchecked)`: with one thread there is no overlapping access for the runtime's
    // dynamic exclusivity checks to catch, and those checks cost about 1,500 instructions per
    // command on this path.
    private let client: AMQPClient
    private let logger: Logger
    private var connection: amqp_connection_state_t?
    private var generation: UInt64 = 0
    @exclusivity(unchecked) private var assembler: ContentAssembler
    @exclusivity(unchecked) private var confirms = ConfirmTracker<SentPublish>()
    /// When the unconfirmed publishes mean the node has stopped working (see ``ConfirmDeadline``).
    private var confirmDeadline: ConfirmDeadline
    /// The nodes, in the order this client tries them.
    private var rotation: NodeRotation
    /// Mandatory publishes the broker returned, until their confirm arrives (rare).
    private var returnedPublishes: [ObjectIdentifier: (code: UInt16, text: String)] = [:]
    /// Publishes not yet sent: new ones, and unconfirmed ones from a lost connection (sent again).
    @exclusivity(unchecked) private var unsent: [AMQPClient.PublishRequest] = []
    private var consumerTags: [String: AMQPConsumerSpec] = [:] {
        didSet { lastConsumer = nil }
    }
    /// The consumer of the last delivery (see ``consumer(tagged:)``).
    private var lastConsumer: (tag: String, spec: AMQPConsumerSpec?)?
    private var consumersStopped = false
    /// Queues whose consumer was cancelled on request; not consumed again after a reconnect.
    private var stoppedQueues: Set<String> = []
    /// Delivery tags of this connection that still need an ack or reject, ascending.
    @exclusivity(unchecked) private var unsettled: [UInt64] = []
    /// Tags acked by the commands of the current batch, or by confirms just read (publishes with
    /// `acking`); sent together by sendAcks().
    @exclusivity(unchecked) private var batchAcks: [UInt64] = []
    /// Deliveries read in the current batch of frames, handed to the readers together.
    @exclusivity(unchecked) private var readDeliveries: [AMQPDelivery] = []
    /// Text that repeats from delivery to delivery, converted once.
    @exclusivity(unchecked) private var repeated = RepeatedStrings()
    /// C copies of each publish's strings, in one block reused from publish to publish.
    private let publishArena = CArena(capacity: 4096)
    /// Buffers reused from round to round: the commands taken from the outbox, and the jobs of
    /// the connection's executor.
    private var commands: [AMQPClient.Command] = []
    private var jobs: [UnownedJob] = []
    private var blocked = false
    /// Close requests: the thread closes once the outbox is sent and confirmed. Nil entries are
    /// requests nobody waits on (graceful shutdown of the service).
    private var closeWaiters: [CheckedContinuation<Void, Never>?] = []

    /// A publish written to the socket, waiting for its confirm.
    struct SentPublish {
        let request: AMQPClient.PublishRequest
        let sentAt: ContinuousClock.Instant
    }

    init(client: AMQPClient) {
        self.client = client
        self.logger = client.logger
        self.assembler = ContentAssembler(maxRetainedBodySize: client.configuration.maxRetainedBodySize)
        self.confirmDeadline = ConfirmDeadline(timeout: client.configuration.confirmTimeout)
        self.rotation = client.nodeRotation
    }

    // MARK: - Outer loop: connect, serve, reconnect

    func runUntilShutdown() -> Result<Void, any Error> {
        // TLS sockets may raise SIGPIPE on a dead peer; plain TCP sends use MSG_NOSIGNAL.
        signal(SIGPIPE, SIG_IGN)
        var backoff = Backoff(initial: client.configuration.reconnectInitialDelay, maximum: client.configuration.reconnectMaxDelay)
        var failedRounds = 0
        var failedAttempts = 0
        while true {
            if client.isAbortRequested {
                finishAll(with: AMQPError(.shutdown))
                return .success(())
            }
            let node = rotation.current
            do {
                try connect(to: node)
                failedRounds = 0
                failedAttempts = 0
                backoff.reset()
                rotation.connected()
                client.setConnected(true, to: node)
                logger.info(
                    "AMQP connected",
                    metadata: [
                        "amqp.url": "\(client.configuration.redactedURL)", "amqp.node": "\(node)", "amqp.generation": "\(generation)",
                    ])
                let exit = try serve()
                client.setConnected(false)
                switch exit {
                case .closed:
                    finishAll(with: AMQPError(.shutdown))
                    return .success(())
                }
            } catch {
                let wasConnected = client.isConnected
                client.setConnected(false)
                tearDown()
                let delay: Double
                if wasConnected {
                    rotation.connectionLost()
                    logger.warning(
                        "AMQP connection lost; reconnecting",
                        metadata: ["amqp.error": "\(error)", "amqp.node": "\(node)", "amqp.next_node": "\(rotation.current)"])
                    delay = backoff.nextDelay()
                } else {
                    failedAttempts += 1
                    let roundFailed = rotation.attemptFailed()
                    logger.warning(
                        "AMQP connect failed",
                        metadata: ["amqp.error": "\(error)", "amqp.node": "\(node)", "amqp.attempt": "\(failedAttempts)"])
                    if roundFailed {
                        failedRounds += 1
                        if let limit = client.maxConnectAttempts, failedRounds >= limit {
                            finishAll(with: error)
                            return .failure(error)
                        }
                    }
                    // The next node of the round is tried at once; a round of failures backs off.
                    delay = roundFailed ? backoff.nextDelay() : 0
                }
                if waitWhileDisconnected(seconds: delay) == .closed {
                    finishAll(with: AMQPError(.shutdown))
                    return .success(())
                }
            }
        }
    }

    /// Sleeps for the backoff delay, still answering commands that need no connection (at least
    /// once, also without a delay).
    private func waitWhileDisconnected(seconds: Double) -> ServeExit? {
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int(seconds * 1000)))
        repeat {
            if client.isAbortRequested || !closeWaiters.isEmpty { return .closed }
            // Tasks on the connection's executor keep running while it is down.
            client.executor.runJobs(using: &jobs)
            let commands = client.takeCommands()
            for (index, command) in commands.enumerated() {
                switch command {
                case .publish(let request): unsent.append(request)
                case .ack, .reject: break  // the broker requeued those deliveries with the old connection
                case .declareQueue(_, let continuation): continuation.resume(returning: .failure(AMQPError(.connectionLost)))
                case .queueExists(_, let continuation), .deleteQueue(_, let continuation):
                    continuation.resume(returning: .failure(AMQPError(.connectionLost)))
                case .stopConsuming(let queue, let continuation):
                    if let queue { stoppedQueues.insert(queue) } else { consumersStopped = true }
                    continuation.resume()
                case .close(let continuation):
                    closeWaiters.append(continuation)
                    // What came after it is failed by finishAll, not dropped.
                    client.returnCommands(commands[(index + 1)...])
                    return .closed
                }
            }
            expireDeadlines()
            let remaining = ContinuousClock.now.duration(to: deadline)
            let milliseconds = client.executor.hasJobs || remaining <= .zero ? 0 : max(1, min(200, Int(remaining.wholeMilliseconds)))
            var descriptor = pollfd(fd: client.wakeup.readDescriptor, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, Int32(milliseconds)) > 0 { client.wakeup.drain() }
        } while ContinuousClock.now < deadline
        return nil
    }

    // MARK: - Connecting

    private func connect(to node: AMQPConfiguration.Node) throws(AMQPError) {
        let configuration = client.configuration
        guard let state = amqp_new_connection() else { throw AMQPError(.connectionFailed, "out of memory") }
        connection = state
        try AMQPTransport.open(state, to: node, configuration: configuration)
        var handshakeTimeout = timeval(tv_sec: configuration.connectTimeoutSeconds, tv_usec: 0)
        _ = amqp_set_handshake_timeout(state, &handshakeTimeout)
        // Declares and other synchronous calls would otherwise wait forever on a node that stopped
        // answering.
        var rpcTimeout = timeval(
            tv_sec: Int(configuration.rpcTimeout.components.seconds),
            tv_usec: Int(configuration.rpcTimeout.components.attoseconds / 1_000_000_000_000))
        _ = amqp_set_rpc_timeout(state, &rpcTimeout)

        let arena = CArena()
        var properties = arena.table([
            "connection_name": .string(configuration.connectionName),
            "product": .string("walink"),
            "capabilities": .table([
                "consumer_cancel_notify": .bool(true),
                "connection.blocked": .bool(true),
            ]),
        ])
        let login = CRabbitMQ_login_plain(
            state,
            configuration.virtualHost,
            0,
            131_072,
            Int32(configuration.heartbeatSeconds),
            &properties,
            configuration.user,
            configuration.password
        )
        if login.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION {
            throw AMQPTransport.loginError(login.library_error, node: node, configuration: configuration)
        }
        try Self.check(login, code: .loginFailed, what: "login")

        amqp_channel_open(state, Self.channel)
        try Self.check(amqp_get_rpc_reply(state), code: .connectionFailed, what: "channel.open")
        amqp_confirm_select(state, Self.channel)
        try Self.check(amqp_get_rpc_reply(state), code: .connectionFailed, what: "confirm.select")

        try declare(client.topology, on: state)
        generation += 1
        confirmDeadline.reset()
        unsettled.removeAll()
        batchAcks.removeAll()
        consumerTags.removeAll()
        if !consumersStopped {
            for spec in client.consumers where !stoppedQueues.contains(spec.queue) { try startConsumer(spec, on: state) }
        }
    }

    private func declare(_ topology: AMQPTopology, on state: amqp_connection_state_t) throws(AMQPError) {
        for exchange in topology.exchanges {
            let arena = CArena()
            amqp_exchange_declare(
                state, Self.channel, arena.bytes(exchange.name), arena.bytes(exchange.type),
                0, exchange.durable ? 1 : 0, exchange.autoDelete ? 1 : 0, 0, arena.table(exchange.arguments)
            )
            try Self.check(amqp_get_rpc_reply(state), code: .declareFailed, what: "exchange.declare \(exchange.name)")
        }
        for queue in topology.queues {
            _ = try declareQueue(queue, on: state)
        }
        for binding in topology.bindings {
            let arena = CArena()
            amqp_queue_bind(
                state, Self.channel, arena.bytes(binding.queue), arena.bytes(binding.exchange),
                arena.bytes(binding.routingKey), arena.table(binding.arguments)
            )
            try Self.check(amqp_get_rpc_reply(state), code: .declareFailed, what: "queue.bind \(binding.queue)")
        }
    }

    private func declareQueue(_ queue: AMQPTopology.Queue, on state: amqp_connection_state_t) throws(AMQPError) -> String {
        let arena = CArena()
        let ok = amqp_queue_declare(
            state, Self.channel, arena.bytes(queue.name), 0, queue.durable ? 1 : 0,
            queue.exclusive ? 1 : 0, queue.autoDelete ? 1 : 0, arena.table(queue.arguments)
        )
        try Self.check(amqp_get_rpc_reply(state), code: .declareFailed, what: "queue.declare \(queue.name)")
        guard let ok else { throw AMQPError(.declareFailed, "queue.declare \(queue.name)") }
        return CValues.string(ok.pointee.queue)
    }

    private func startConsumer(_ spec: AMQPConsumerSpec, on state: amqp_connection_state_t) throws(AMQPError) {
        if !spec.noAck {
            amqp_basic_qos(state, Self.channel, 0, spec.prefetch, 0)
            try Self.check(amqp_get_rpc_reply(state), code: .connectionFailed, what: "basic.qos")
        }
        let arena = CArena()
        let ok = amqp_basic_consume(
            state, Self.channel, arena.bytes(spec.queue), amqp_bytes_t(len: 0, bytes: nil),
            0, spec.noAck ? 1 : 0, spec.exclusive ? 1 : 0, amqp_table_t(num_entries: 0, entries: nil)
        )
        try Self.check(amqp_get_rpc_reply(state), code: .declareFailed, what: "basic.consume \(spec.queue)")
        guard let ok else { throw AMQPError(.declareFailed, "basic.consume \(spec.queue)") }
        consumerTags[CValues.string(ok.pointee.consumer_tag)] = spec
    }

    // MARK: - Serving one connection

    private func serve() throws(AMQPError) -> ServeExit {
        guard let state = connection else { throw AMQPError(.connectionLost) }
        let socket = amqp_get_sockfd(state)
        var descriptors = (
            pollfd(fd: socket, events: Int16(POLLIN), revents: 0),
            pollfd(fd: client.wakeup.readDescriptor, events: Int16(POLLIN), revents: 0)
        )
        var nextDeadlineCheck = ContinuousClock.now
        // Whether the socket may have data: after `poll` said so or timed out, when a round ends
        // without polling, and at least every second, since rabbitmq-c sends its heartbeats only
        // from inside its read calls.
        var probeSocket = true
        var lastProbe = ContinuousClock.now
        while true {
            // Tasks on the connection's executor resumed since the last round (by confirms, store
            // lookups, timers), then what they and other threads queued for the connection.
            client.executor.runJobs(using: &jobs)
            if let exit = try handleCommands(on: state) { return exit }
            if !probeSocket, lastProbe.duration(to: .now) > .seconds(1) { probeSocket = true }
            if probeSocket { lastProbe = .now }
            try readAvailableFrames(on: state, probeSocket: probeSocket)
            if client.executor.hasJobs {
                // The deliveries and confirms just read resumed tasks here: run them now, so their
                // answers go out with this round's writes.
                client.executor.runJobs(using: &jobs)
                if let exit = try handleCommands(on: state) { return exit }
            }
            try sendAcksAndUnsent(on: state, socket: socket)
            // Deadlines are seconds long; checking them a few times a second is plenty, and keeps
            // a walk over every outstanding publish off the per-message path.
            let now = ContinuousClock.now
            if now >= nextDeadlineCheck {
                expireDeadlines()
                try checkConfirmDeadline(now: now)
                nextDeadlineCheck = now.advanced(by: .milliseconds(50))
            }
            if client.isAbortRequested { return .closed }
            if !closeWaiters.isEmpty, unsent.isEmpty, confirms.count == 0 {
                closeGracefully(state)
                return .closed
            }
            amqp_maybe_release_buffers(state)

            // Work at hand (frames read ahead, jobs or commands this thread queued itself, which
            // send no wake-up): another round before sleeping.
            if amqp_frames_enqueued(state) != 0 || amqp_data_in_buffer(state) != 0 || client.executor.hasJobs || client.hasCommands {
                probeSocket = true
                continue
            }
            descriptors.0.revents = 0
            descriptors.1.revents = 0
            // Wake at least every 200 ms: heartbeats are only serviced inside library calls, and
            // publish deadlines need checking.
            let ready = withUnsafeMutableBytes(of: &descriptors) { raw in
                poll(raw.baseAddress!.assumingMemoryBound(to: pollfd.self), 2, 200)
            }
            if ready > 0, descriptors.1.revents != 0 {
                client.wakeup.drain()
            }
            probeSocket = ready <= 0 || descriptors.0.revents != 0
        }
    }

    /// Handles the commands queued so far; returns an exit when one closes the connection.
    private func handleCommands(on state: amqp_connection_state_t) throws(AMQPError) -> ServeExit? {
        client.takeCommands(into: &commands)
        defer { commands.removeAll(keepingCapacity: true) }
        var handled = 0
        do {
            while handled < commands.count {
                let command = commands[handled]
                handled += 1
                if let exit = try handle(command, on: state) {
                    client.returnCommands(commands[handled...])
                    return exit
                }
            }
        } catch {
            // The connection broke midway: the rest of the batch waits for the next connection
            // (publishes are sent again, acks of this connection are dropped, and so on).
            client.returnCommands(commands[handled...])
            throw error
        }
        return nil
    }

    private func handle(_ command: AMQPClient.Command, on state: amqp_connection_state_t) throws(AMQPError) -> ServeExit? {
        switch command {
        case .publish(let request):
            unsent.append(request)
        case .ack(let commandGeneration, let tag):
            guard commandGeneration == generation else { return nil }
            batchAcks.append(tag)  // sent by sendAcks() once the batch is handled
        case .reject(let commandGeneration, let tag, let requeue):
            guard commandGeneration == generation else { return nil }
            let status = amqp_basic_reject(state, Self.channel, tag, requeue ? 1 : 0)
            guard status == AMQP_STATUS_OK.rawValue else { throw AMQPError(.connectionLost, Self.statusText(status)) }
            removeUnsettled(tag)
        case .declareQueue(let queue, let continuation):
            do {
                continuation.resume(returning: .success(try declareQueue(queue, on: state)))
            } catch {
                continuation.resume(returning: .failure(error))
                throw error  // the channel is closed; start over
            }
        case .queueExists(let name, let continuation):
            do {
                continuation.resume(returning: .success(try probeQueue(name, on: state)))
            } catch {
                continuation.resume(returning: .failure(error))
                throw error
            }
        case .deleteQueue(let name, let continuation):
            let arena = CArena()
            amqp_queue_delete(state, Self.channel, arena.bytes(name), 0, 0)
            do {
                try Self.check(amqp_get_rpc_reply(state), code: .declareFailed, what: "queue.delete \(name)")
                continuation.resume(returning: .success(true))
            } catch {
                continuation.resume(returning: .failure(error))
                throw error
            }
        case .stopConsuming(let queue, let continuation):
            if let queue { stoppedQueues.insert(queue) } else { consumersStopped = true }
            // Resumed whatever happens: a connection lost now also stops the consumers.
            defer { continuation.resume() }
            for (tag, spec) in consumerTags where queue == nil || spec.queue == queue {
                let arena = CArena()
                amqp_basic_cancel(state, Self.channel, arena.bytes(tag))
                try Self.check(amqp_get_rpc_reply(state), code: .channelClosed, what: "basic.cancel")
                consumerTags.removeValue(forKey: tag)
            }
        case .close(let continuation):
            closeWaiters.append(continuation)
        }
        return nil
    }

    /// Sends the pending acks and publishes. When there are several, the socket is corked meanwhile
    /// (Linux `TCP_CORK`): rabbitmq-c writes every frame with a system call of its own, three per
    /// publish, and on loopback each uncorked write also runs the receiving side of TCP and wakes
    /// the broker; corked, the writes only fill the send buffer, and uncorking sends them together.
    /// A single message is sent as it is (no extra calls, no added latency).
    private func sendAcksAndUnsent(on state: amqp_connection_state_t, socket: Int32) throws(AMQPError) {
        let messages = batchAcks.count + (blocked ? 0 : unsent.count)
        guard messages > 1 else {
            try sendAcks(on: state)
            try sendUnsent(on: state)
            return
        }
        Self.setCork(socket, true)
        defer { Self.setCork(socket, false) }
        try sendAcks(on: state)
        try sendUnsent(on: state)
    }

    private static func setCork(_ socket: Int32, _ on: Bool) {
        #if os(Linux)
        var value: Int32 = on ? 1 : 0
        _ = setsockopt(socket, Int32(IPPROTO_TCP), TCP_CORK, &value, socklen_t(MemoryLayout<Int32>.size))
        #endif
    }

    /// Sends the acks of the batch just handled. When they cover the oldest unsettled deliveries
    /// without a gap, one `basic.ack` with `multiple` settles all of those (one frame instead of
    /// many, for us and for the broker); the others are acked one by one. Only acks the callers
    /// asked for are ever sent: `multiple` never reaches a delivery that is not in the batch.
    private func sendAcks(on state: amqp_connection_state_t) throws(AMQPError) {
        guard !batchAcks.isEmpty else { return }
        defer { batchAcks.removeAll(keepingCapacity: true) }
        batchAcks.sort()
        var covered = 0
        while covered < unsettled.count, covered < batchAcks.count, unsettled[covered] == batchAcks[covered] {
            covered += 1
        }
        if covered > 0 {
            let status = amqp_basic_ack(state, Self.channel, unsettled[covered - 1], covered > 1 ? 1 : 0)
            guard status == AMQP_STATUS_OK.rawValue else { throw AMQPError(.connectionLost, Self.statusText(status)) }
            unsettled.removeSubrange(..<covered)
        }
        for tag in batchAcks[covered...] {
            let status = amqp_basic_ack(state, Self.channel, tag, 0)
            guard status == AMQP_STATUS_OK.rawValue else { throw AMQPError(.connectionLost, Self.statusText(status)) }
            removeUnsettled(tag)
        }
    }

    private func removeUnsettled(_ tag: UInt64) {
        let index = unsettled.partitioningIndex { $0 >= tag }
        if index < unsettled.count, unsettled[index] == tag { unsettled.remove(at: index) }
    }

    private func probeQueue(_ name: String, on state: amqp_connection_state_t) throws(AMQPError) -> Bool {
        amqp_channel_open(state, Self.probeChannel)
        try Self.check(amqp_get_rpc_reply(state), code: .channelClosed, what: "channel.open")
        let arena = CArena()
        amqp_queue_declare(state, Self.probeChannel, arena.bytes(name), 1, 0, 0, 0, amqp_table_t(num_entries: 0, entries: nil))
        let reply = amqp_get_rpc_reply(state)
        if reply.reply_type == AMQP_RESPONSE_NORMAL {
            amqp_channel_close(state, Self.probeChannel, AMQP_REPLY_SUCCESS)
            return true
        }
        if reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD {
            var closeOK = amqp_channel_close_ok_t(dummy: 0)
            _ = amqp_send_method(state, Self.probeChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &closeOK)
            return false
        }
        throw AMQPError(.connectionLost, "queue probe failed")
    }

    private func sendUnsent(on state: amqp_connection_state_t) throws(AMQPError) {
        guard !blocked, !unsent.isEmpty else { return }
        let now = ContinuousClock.now
        var index = 0
        defer { unsent.removeFirst(index) }  // what was sent (or expired); the rest waits
        while index < unsent.count {
            let request = unsent[index]
            if request.deadline <= now {
                request.continuation.resume(returning: .failure(AMQPError(.publishTimedOut)))
                index += 1
                continue
            }
            let sequence = confirms.nextSequence
            let status: Int32
            if request.expiresAt == nil, !request.mandatory {
                status = publish(request, properties: request.message.properties, on: state)
            } else {
                var properties = request.message.properties
                if let expiresAt = request.expiresAt {
                    // The TTL the broker applies counts from now: what is left of the message's life.
                    let left = (expiresAt - now).wholeMillisecondsRoundedUp
                    guard left > 0 else {
                        request.continuation.resume(returning: .failure(AMQPError(.messageExpired)))
                        index += 1
                        continue
                    }
                    properties.expiration = String(left)
                }
                if request.mandatory {
                    var headers = properties.headers ?? AMQPTable()
                    headers[Self.publishSequenceHeader] = .int64(Int64(sequence))
                    properties.headers = headers
                }
                status = publish(request, properties: properties, on: state)
            }
            guard status == AMQP_STATUS_OK.rawValue else {
                // Maybe sent, maybe not: keep it for the next connection (at-least-once).
                throw AMQPError(.connectionLost, Self.statusText(status))
            }
            _ = confirms.register(SentPublish(request: request, sentAt: now))
            index += 1
        }
    }

    /// Writes one publish; its strings are copied into the reused arena for the call.
    private func publish(_ request: AMQPClient.PublishRequest, properties: AMQPProperties, on state: amqp_connection_state_t) -> Int32 {
        defer { publishArena.reset() }
        var cProperties = publishArena.properties(properties)
        return amqp_basic_publish(
            state, Self.channel, publishArena.bytes(request.exchange), publishArena.bytes(request.routingKey),
            request.mandatory ? 1 : 0, 0, &cProperties, publishArena.bytes(request.message.body)
        )
    }

    /// Gives the connection up when its oldest unconfirmed publish waited too long (see
    /// ``ConfirmDeadline``); the publishes are sent again on the next node.
    private func checkConfirmDeadline(now: ContinuousClock.Instant) throws(AMQPError) {
        guard confirmDeadline.isMissed(oldestSentAt: confirms.oldest?.sentAt, blocked: blocked, now: now) else { return }
        throw AMQPError(
            .confirmTimedOut,
            "no publisher confirm within \(confirmDeadline.timeout) for \(confirms.count) publishes; dropping the connection")
    }

    private func expireDeadlines() {
        let now = ContinuousClock.now
        for sent in confirms.removeAll(where: { $0.request.deadline <= now }) {
            returnedPublishes[ObjectIdentifier(sent.request)] = nil
            sent.request.continuation.resume(returning: .failure(AMQPError(.publishTimedOut)))
        }
        // Also messages that went stale while they waited (a blocked connection): dropped unsent.
        unsent.removeAll { request in
            if request.deadline <= now {
                request.continuation.resume(returning: .failure(AMQPError(.publishTimedOut)))
                return true
            }
            if let expiresAt = request.expiresAt, expiresAt <= now {
                request.continuation.resume(returning: .failure(AMQPError(.messageExpired)))
                return true
            }
            return false
        }
    }

    // MARK: - Incoming frames

    /// Reads the frames at hand. With `probeSocket` false, only frames rabbitmq-c has buffered
    /// already: asking it for more when the socket has nothing costs a `recv` and a `poll` that
    /// find nothing, on the way to answering what was just read.
    private func readAvailableFrames(on state: amqp_connection_state_t, probeSocket: Bool = true) throws(AMQPError) {
        // The batch's deliveries go to the readers together: one lock and one wake-up round.
        defer {
            client.deliveryChannel.yield(contentsOf: readDeliveries)
            readDeliveries.removeAll(keepingCapacity: true)
        }
        // A bounded batch, so a flood of deliveries cannot starve the outbox (acks, replies).
        for index in 0..<512 {
            if index > 0 || !probeSocket, amqp_frames_enqueued(state) == 0, amqp_data_in_buffer(state) == 0 { return }
            var frame = amqp_frame_t()
            var zero = timeval(tv_sec: 0, tv_usec: 0)
            let status = amqp_simple_wait_frame_noblock(state, &frame, &zero)
            if status == AMQP_STATUS_TIMEOUT.rawValue { return }
            guard status == AMQP_STATUS_OK.rawValue else { throw AMQPError(.connectionLost, Self.statusText(status)) }
            try handle(frame, on: state)
        }
    }

    private func handle(_ frame: amqp_frame_t, on state: amqp_connection_state_t) throws(AMQPError) {
        switch Int32(frame.frame_type) {
        case AMQP_FRAME_METHOD:
            try handleMethod(frame.payload.method, channel: frame.channel, on: state)
        case AMQP_FRAME_HEADER:
            guard let decoded = frame.payload.properties.decoded else { throw AMQPError(.protocolError, "header without properties") }
            let properties = CValues.properties(decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee, repeated: &repeated)
            do {
                if let message = try assembler.header(channel: frame.channel, bodySize: frame.payload.properties.body_size, properties: properties) {
                    complete(message)
                }
            } catch {
                throw AMQPError(.protocolError, "unexpected content header")
            }
        case AMQP_FRAME_BODY:
            let fragment = frame.payload.body_fragment
            let buffer = UnsafeRawBufferPointer(start: fragment.bytes, count: fragment.len)
            do {
                if let message = try assembler.body(channel: frame.channel, buffer) { complete(message) }
            } catch {
                throw AMQPError(.protocolError, "unexpected content body")
            }
        default:
            break  // heartbeats are handled inside rabbitmq-c
        }
    }

    private func handleMethod(_ method: amqp_method_t, channel: amqp_channel_t, on state: amqp_connection_state_t) throws(AMQPError) {
        switch method.id {
        case AMQP_BASIC_DELIVER_METHOD:
            let deliver = method.decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            try begin(
                channel,
                .deliver(
                    consumerTag: repeated.string(deliver.consumer_tag, .consumerTag),
                    deliveryTag: deliver.delivery_tag,
                    redelivered: deliver.redelivered != 0,
                    exchange: repeated.string(deliver.exchange, .exchange),
                    routingKey: repeated.string(deliver.routing_key, .routingKey)
                ))
        case AMQP_BASIC_RETURN_METHOD:
            let returned = method.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            try begin(
                channel,
                .return(
                    replyCode: returned.reply_code,
                    replyText: CValues.string(returned.reply_text),
                    exchange: CValues.string(returned.exchange),
                    routingKey: CValues.string(returned.routing_key)
                ))
        case AMQP_BASIC_ACK_METHOD:
            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            confirms.settle(deliveryTag: ack.delivery_tag, multiple: ack.multiple != 0) { sent in
                let request = sent.request
                if !returnedPublishes.isEmpty, let returned = returnedPublishes.removeValue(forKey: ObjectIdentifier(request)) {
                    request.continuation.resume(returning: .success(.returned(replyCode: returned.code, replyText: returned.text)))
                } else {
                    // Sent with the other acks once the frames at hand are read.
                    if let delivery = request.ackOnConfirm, delivery.generation == generation { batchAcks.append(delivery.tag) }
                    request.continuation.resume(returning: .success(.acked))
                }
            }
        case AMQP_BASIC_NACK_METHOD:
            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            confirms.settle(deliveryTag: nack.delivery_tag, multiple: nack.multiple != 0) { sent in
                let request = sent.request
                returnedPublishes[ObjectIdentifier(request)] = nil
                request.continuation.resume(returning: .failure(AMQPError(.publishNacked)))
            }
        case AMQP_BASIC_CANCEL_METHOD:
            // The broker cancelled a consumer (queue deleted, leader moved): start over, which
            // declares the queue again and re-creates the consumer.
            let cancel = method.decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            let tag = CValues.string(cancel.consumer_tag)
            logger.warning("AMQP consumer cancelled by the broker", metadata: ["amqp.queue": "\(consumerTags[tag]?.queue ?? "?")"])
            throw AMQPError(.channelClosed, "consumer cancelled by the broker")
        case AMQP_CHANNEL_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            var closeOK = amqp_channel_close_ok_t(dummy: 0)
            _ = amqp_send_method(state, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &closeOK)
            throw AMQPError(.channelClosed, "\(close.reply_code) \(CValues.string(close.reply_text))")
        case AMQP_CONNECTION_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            var closeOK = amqp_connection_close_ok_t(dummy: 0)
            _ = amqp_send_method(state, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &closeOK)
            throw AMQPError(.connectionLost, "broker closed the connection: \(close.reply_code) \(CValues.string(close.reply_text))")
        case AMQP_CONNECTION_BLOCKED_METHOD:
            blocked = true
            client.setBlocked(true)
            logger.warning("AMQP connection blocked by the broker (resource alarm); holding publishes")
        case AMQP_CONNECTION_UNBLOCKED_METHOD:
            blocked = false
            confirmDeadline.unblocked(at: .now)
            client.setBlocked(false)
            logger.info("AMQP connection unblocked")
        default:
            break
        }
    }

    /// The consumer a delivery is for. Deliveries come in runs for one consumer, whose tag is then
    /// the same string (from ``RepeatedStrings``): compared, not hashed.
    private func consumer(tagged tag: String) -> AMQPConsumerSpec? {
        if let last = lastConsumer, last.tag == tag { return last.spec }
        let spec = consumerTags[tag]
        lastConsumer = (tag, spec)
        return spec
    }

    private func begin(_ channel: amqp_channel_t, _ start: ContentAssembler.Start) throws(AMQPError) {
        do {
            try assembler.begin(channel: channel, start)
        } catch {
            throw AMQPError(.protocolError, "method frame inside content")
        }
    }

    private func complete(_ message: consuming ContentAssembler.Message) {
        switch message.start {
        case .deliver(let consumerTag, let deliveryTag, let redelivered, let exchange, let routingKey):
            let spec = consumer(tagged: consumerTag)
            if !(spec?.noAck ?? false) { unsettled.append(deliveryTag) }
            readDeliveries.append(
                AMQPDelivery(
                    queue: spec?.queue ?? "",
                    deliveryTag: deliveryTag,
                    connectionGeneration: generation,
                    redelivered: redelivered,
                    exchange: exchange,
                    routingKey: routingKey,
                    properties: message.properties,
                    body: message.body,
                    bodySize: message.bodySize,
                    noAck: spec?.noAck ?? false
                ))
        case .return(let replyCode, let replyText, _, _):
            guard let sequence = message.properties.headers?[Self.publishSequenceHeader]?.intValue,
                let request = confirms.token(for: UInt64(sequence))?.request
            else { return }
            returnedPublishes[ObjectIdentifier(request)] = (replyCode, replyText)
        }
    }

    // MARK: - Closing

    private func closeGracefully(_ state: amqp_connection_state_t) {
        _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS)
        amqp_destroy_connection(state)
        connection = nil
        logger.info("AMQP connection closed")
    }

    /// Drops a broken connection; unconfirmed publishes go back to be sent again.
    private func tearDown() {
        if let state = connection {
            amqp_destroy_connection(state)
            connection = nil
        }
        unsent = confirms.drain().map(\.request) + unsent
        returnedPublishes.removeAll()
        unsettled.removeAll()
        batchAcks.removeAll()
        assembler.reset()
        consumerTags.removeAll()
        blocked = false
        client.setBlocked(false)
    }

    private func finishAll(with error: AMQPError) {
        if let state = connection {
            amqp_destroy_connection(state)
            connection = nil
        }
        for sent in confirms.drain() { sent.request.continuation.resume(returning: .failure(error)) }
        returnedPublishes.removeAll()
        for request in unsent { request.continuation.resume(returning: .failure(error)) }
        unsent.removeAll()
        for command in client.takeCommands() {
            if case .close(let continuation) = command { closeWaiters.append(continuation) } else { AMQPClient.fail(command, with: error) }
        }
        for waiter in closeWaiters { waiter?.resume() }
        closeWaiters.removeAll()
    }

    // MARK: - Helpers

    private static func check(_ reply: amqp_rpc_reply_t, code: AMQPError.Code, what: String) throws(AMQPError) {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            throw AMQPError(code, "\(what): \(statusText(reply.library_error))")
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                throw AMQPError(code, "\(what): \(close.reply_code) \(CValues.string(close.reply_text))")
            }
            if reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                throw AMQPError(code, "\(what): \(close.reply_code) \(CValues.string(close.reply_text))")
            }
            throw AMQPError(code, "\(what): server exception")
        default:
            throw AMQPError(code, "\(what): no reply")
        }
    }

    static func statusText(_ status: Int32) -> String {
        guard let text = amqp_error_string2(status) else { return "status \(status)" }
        return String(cString: text)
    }
}
