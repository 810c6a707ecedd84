import AMQP

/// Everything a worker needs to run; read from the environment by the `walink` program.
public struct WorkerConfiguration: Sendable {
    public var amqp: AMQPConfiguration
    /// Shown in `worker.ping` answers and the broker's connection name.
    public var workerID: String
    /// Commands handled at once (the consumer's prefetch).
    public var concurrency: UInt16
    /// Largest command body accepted, in bytes; bigger ones get a 400.
    public var maxBodySize: Int
    /// Deliveries of one command before the queue dead-letters it (the queue's `x-delivery-limit`).
    public var deliveryLimit: Int
    /// Deliveries of one command, across re-publishing, before the worker dead-letters it. Above
    /// ``deliveryLimit``: on RabbitMQ 3.10 each worker death counts against every command it held
    /// (see `CommandConsumer.renew`).
    public var attemptLimit: Int
    /// How long answers are remembered for `message_id` deduplication, and how many.
    public var idempotencyTimeToLive: Duration
    public var idempotencyCapacity: Int
    /// How long a reply may wait for the broker's confirm.
    public var publishTimeout: Duration
    /// `diag.*` commands for operational tests (off by default).
    public var diagnosticCommands: Bool
    /// Broker object names (a prefix separates deployments sharing a broker).
    public var names: WalinkNames

    public init(
        amqp: AMQPConfiguration,
        workerID: String,
        concurrency: UInt16 = 64,
        maxBodySize: Int = 64 * 1024,
        deliveryLimit: Int = WalinkTopology.defaultDeliveryLimit,
        attemptLimit: Int = 20,
        idempotencyTimeToLive: Duration = .seconds(15 * 60),
        idempotencyCapacity: Int = 100_000,
        publishTimeout: Duration = .seconds(30),
        diagnosticCommands: Bool = false,
        names: WalinkNames = .standard
    ) {
        self.amqp = amqp
        self.workerID = workerID
        self.concurrency = concurrency
        self.maxBodySize = maxBodySize
        self.deliveryLimit = deliveryLimit
        self.attemptLimit = attemptLimit
        self.idempotencyTimeToLive = idempotencyTimeToLive
        self.idempotencyCapacity = idempotencyCapacity
        self.publishTimeout = publishTimeout
        self.diagnosticCommands = diagnosticCommands
        self.names = names
    }
}

extension WorkerConfiguration {
    /// This worker's own queue, where other workers forward commands for sessions it links.
    var workerQueue: String { names.workerQueue(workerID) }

    var pipeline: CommandPipeline.Configuration {
        CommandPipeline.Configuration(
            maxBodySize: maxBodySize, answerTimeToLive: idempotencyTimeToLive, answerCapacity: idempotencyCapacity)
    }

    /// The broker connection: named after the worker, and keeping no body above the limit in
    /// memory (such a command is answered with a 400 from its size alone).
    var connectionConfiguration: AMQPConfiguration {
        var configuration = amqp
        configuration.connectionName = "walink worker \(workerID)"
        configuration.maxRetainedBodySize = maxBodySize
        return configuration
    }

    /// Every public command is bound even when this worker lacks its handler: unknown names reach
    /// the queue through the alternate exchange anyway, and a fleet's workers may differ.
    func topology(extraCommands: [String]) -> AMQPTopology {
        var boundNames = Set(CommandCatalog.names).union(extraCommands)
        if diagnosticCommands { boundNames.insert(DiagnosticSleep().name) }
        var topology = WalinkTopology.topology(commandNames: Array(boundNames).sorted(), deliveryLimit: deliveryLimit, names: names)
        // The worker's own queue outlives a reconnect but not the worker: deleted a minute after it
        // stops consuming. A forwarded command nobody takes in time (the worker stopped or died) goes
        // back to walink.commands for any worker: each forward expires a worker lease after it was
        // sent (see `CommandConsumer.forwardTimeToLive`), this queue's 30 s only bounds the rest.
        topology.queues.append(
            AMQPTopology.Queue(
                name: workerQueue, durable: false,
                arguments: [
                    "x-expires": .int32(60_000),
                    "x-message-ttl": .int32(30_000),
                    "x-dead-letter-exchange": .string(""),
                    "x-dead-letter-routing-key": .string(names.commandsQueue),
                ]))
        return topology
    }
}
