import AMQP

/// The names of walink's broker objects. A prefix lets several deployments (or parallel test
/// runs) share one broker without taking each other's commands.
public struct WalinkNames: Sendable, Hashable {
    public let prefix: String
    // Stored, not computed: the worker compares and publishes with these for every command.
    public let commandsExchange: String
    /// Alternate exchange of `walink.commands`: commands nobody bound (unknown names) still reach
    /// the queue and get their 501 answer instead of vanishing.
    public let unroutedCommandsExchange: String
    public let commandsQueue: String
    public let eventsExchange: String
    public let resultsExchange: String
    public let deadExchange: String
    public let deadQueue: String

    /// A worker's own queue: commands for sessions whose live connection it holds are forwarded
    /// here by the other workers.
    public func workerQueue(_ workerID: String) -> String { prefix + "walink.worker." + workerID }

    public init(prefix: String = "") {
        self.prefix = prefix
        commandsExchange = prefix + "walink.commands"
        unroutedCommandsExchange = prefix + "walink.commands.unrouted"
        commandsQueue = prefix + "walink.commands"
        eventsExchange = prefix + "walink.events"
        resultsExchange = prefix + "walink.results"
        deadExchange = prefix + "walink.dead"
        deadQueue = prefix + "walink.dead"
    }

    public static func == (lhs: WalinkNames, rhs: WalinkNames) -> Bool { lhs.prefix == rhs.prefix }
    public func hash(into hasher: inout Hasher) { hasher.combine(prefix) }

    public static let standard = WalinkNames()
}

/// The broker objects walink uses. Declared idempotently at every (re)connect, and exported as
/// `deploy/rabbitmq/definitions.json` for operators who pre-provision (a test keeps the two equal).
public enum WalinkTopology {

    /// How often a command may be delivered before the quorum queue dead-letters it: a message
    /// that keeps killing workers ends in `walink.dead` instead of a redelivery loop.
    public static let defaultDeliveryLimit = 5

    public static func topology(
        commandNames: [String],
        deliveryLimit: Int = defaultDeliveryLimit,
        names: WalinkNames = .standard
    ) -> AMQPTopology {
        let commandsExchange = names.commandsExchange
        let unroutedCommandsExchange = names.unroutedCommandsExchange
        let commandsQueue = names.commandsQueue
        let eventsExchange = names.eventsExchange
        let resultsExchange = names.resultsExchange
        let deadExchange = names.deadExchange
        let deadQueue = names.deadQueue
        return AMQPTopology(
            exchanges: [
                .init(name: unroutedCommandsExchange, type: "fanout"),
                .init(name: commandsExchange, type: "direct", arguments: ["alternate-exchange": .string(unroutedCommandsExchange)]),
                .init(name: eventsExchange, type: "topic"),
                .init(name: resultsExchange, type: "topic"),
                .init(name: deadExchange, type: "fanout"),
            ],
            queues: [
                .init(name: deadQueue, arguments: ["x-queue-type": .string("quorum")]),
                .init(
                    name: commandsQueue,
                    arguments: [
                        "x-queue-type": .string("quorum"),
                        "x-delivery-limit": .int32(Int32(deliveryLimit)),
                        "x-dead-letter-exchange": .string(deadExchange),
                    ]),
            ],
            bindings: [.init(queue: deadQueue, exchange: deadExchange, routingKey: "")]
                + [.init(queue: commandsQueue, exchange: unroutedCommandsExchange, routingKey: "")]
                + commandNames.sorted().map { .init(queue: commandsQueue, exchange: commandsExchange, routingKey: $0) }
        )
    }

    /// The topology in RabbitMQ's definitions format (`rabbitmqctl import_definitions`), vhost `/`.
    public static func definitions(commandNames: [String], deliveryLimit: Int = defaultDeliveryLimit) -> JSONValue {
        let topology = topology(commandNames: commandNames, deliveryLimit: deliveryLimit)
        func arguments(_ table: AMQPTable) -> JSONValue {
            var object = JSONObject()
            for (key, value) in table {
                switch value {
                case .bytes: object[key] = .string(value.stringValue ?? "")
                default: object[key] = value.intValue.map { .int(Int64($0)) } ?? .null
                }
            }
            return .object(object)
        }
        return [
            "exchanges": .array(
                topology.exchanges.map { exchange in
                    [
                        "name": .string(exchange.name), "vhost": "/", "type": .string(exchange.type), "durable": .bool(exchange.durable),
                        "auto_delete": .bool(exchange.autoDelete), "internal": false, "arguments": arguments(exchange.arguments),
                    ]
                }),
            "queues": .array(
                topology.queues.map { queue in
                    [
                        "name": .string(queue.name), "vhost": "/", "durable": .bool(queue.durable), "auto_delete": .bool(queue.autoDelete),
                        "arguments": arguments(queue.arguments),
                    ]
                }),
            "bindings": .array(
                topology.bindings.map { binding in
                    [
                        "source": .string(binding.exchange), "vhost": "/", "destination": .string(binding.queue), "destination_type": "queue",
                        "routing_key": .string(binding.routingKey), "arguments": [:],
                    ]
                }),
        ]
    }
}
