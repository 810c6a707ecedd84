/// Exchanges, queues and bindings a client declares (idempotently) on every connect.
public struct AMQPTopology: Sendable, Hashable {
    public struct Exchange: Sendable, Hashable {
        public var name: String
        /// `direct`, `topic`, `fanout` or `headers`.
        public var type: String
        public var durable: Bool
        public var autoDelete: Bool
        public var arguments: AMQPTable

        public init(name: String, type: String, durable: Bool = true, autoDelete: Bool = false, arguments: AMQPTable = [:]) {
            self.name = name
            self.type = type
            self.durable = durable
            self.autoDelete = autoDelete
            self.arguments = arguments
        }
    }

    public struct Queue: Sendable, Hashable {
        public var name: String
        public var durable: Bool
        public var exclusive: Bool
        public var autoDelete: Bool
        public var arguments: AMQPTable

        public init(name: String, durable: Bool = true, exclusive: Bool = false, autoDelete: Bool = false, arguments: AMQPTable = [:]) {
            self.name = name
            self.durable = durable
            self.exclusive = exclusive
            self.autoDelete = autoDelete
            self.arguments = arguments
        }
    }

    public struct Binding: Sendable, Hashable {
        public var queue: String
        public var exchange: String
        public var routingKey: String
        public var arguments: AMQPTable

        public init(queue: String, exchange: String, routingKey: String, arguments: AMQPTable = [:]) {
            self.queue = queue
            self.exchange = exchange
            self.routingKey = routingKey
            self.arguments = arguments
        }
    }

    public var exchanges: [Exchange]
    public var queues: [Queue]
    public var bindings: [Binding]

    public init(exchanges: [Exchange] = [], queues: [Queue] = [], bindings: [Binding] = []) {
        self.exchanges = exchanges
        self.queues = queues
        self.bindings = bindings
    }
}

/// A consumer the client (re)starts on every connect.
public struct AMQPConsumerSpec: Sendable, Hashable {
    public var queue: String
    /// Unacknowledged deliveries the broker may hand this consumer at once (basic.qos, per consumer).
    public var prefetch: UInt16
    /// No-ack mode, required for Direct Reply-to (`amq.rabbitmq.reply-to`).
    public var noAck: Bool
    public var exclusive: Bool

    public init(queue: String, prefetch: UInt16 = 32, noAck: Bool = false, exclusive: Bool = false) {
        self.queue = queue
        self.prefetch = prefetch
        self.noAck = noAck
        self.exclusive = exclusive
    }
}
