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
    /// Deliveries of one command before the queue dead-letters it.
    public var deliveryLimit: Int
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
        self.idempotencyTimeToLive = idempotencyTimeToLive
        self.idempotencyCapacity = idempotencyCapacity
        self.publishTimeout = publishTimeout
        self.diagnosticCommands = diagnosticCommands
        self.names = names
    }
}
