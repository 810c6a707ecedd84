import AMQP
import Foundation
import Gateway
import Logging
import ServiceLifecycle
import Store

/// A worker running in the test process, on its own broker names so parallel tests never take
/// each other's commands.
public final class TestWorker: Sendable {
    public let worker: Worker
    public let names: WalinkNames
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    /// The worker's broker connection and its links (nil without linking).
    public var amqp: AMQPClient { worker.amqp }
    public var links: LinkManager? { worker.links }

    private init(worker: Worker, names: WalinkNames, logger: Logger) {
        self.worker = worker
        self.names = names
        let group = ServiceGroup(services: worker.services, logger: logger)
        self.group = group
        task = Task { try await group.run() }
    }

    /// Starts a worker and returns once it is connected with its topology declared.
    public static func start(
        store: (any WalinkStore)? = nil,
        linking: LinkManager.Configuration? = nil,
        handlers: [any CommandHandler] = [],
        authenticator: (any Authenticator)? = nil,
        amqp: AMQPConfiguration? = nil,
        names: WalinkNames? = nil,
        logger explicitLogger: Logger? = nil,
        configure: (inout WorkerConfiguration) -> Void = { _ in }
    ) async throws -> TestWorker {
        let names = names ?? WalinkNames(prefix: TestBroker.uniqueName("t") + ".")
        var configuration = WorkerConfiguration(
            amqp: try amqp ?? TestBroker.configuration(),
            workerID: "test-worker",
            diagnosticCommands: true,
            names: names
        )
        configure(&configuration)
        var logger = explicitLogger ?? Logger(label: "walink.test-worker")
        if explicitLogger == nil { logger.logLevel = .warning }
        let worker = Worker(
            configuration: configuration, store: store, linking: linking, handlers: handlers, authenticator: authenticator, logger: logger
        )
        let testWorker = TestWorker(worker: worker, names: names, logger: logger)
        try await worker.amqp.waitUntilConnected()
        return testWorker
    }

    /// Stops the way SIGTERM does (graceful shutdown): in-flight commands finish and are answered,
    /// then the connection closes.
    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    /// Begins the graceful shutdown SIGTERM begins, without waiting for it (see ``stopped()``).
    public func beginStopping() async {
        await group.triggerGracefulShutdown()
    }

    /// Returns once the worker stopped.
    public func stopped() async {
        _ = try? await task.value
    }
}

/// A caller: publishes commands and collects replies (Direct Reply-to by default, or its own
/// durable reply queue).
public final class TestCaller: Sendable {
    public enum ReplyRoute: Sendable {
        case directReplyTo
        case queue(String)
    }

    public let client: AMQPClient
    public let replies = Collector<AMQPDelivery>()
    public let names: WalinkNames
    public let route: ReplyRoute
    private let task: Task<Void, any Error>
    private let collectTask: Task<Void, Never>

    public init(names: WalinkNames, route: ReplyRoute = .directReplyTo, amqp: AMQPConfiguration? = nil) throws {
        self.names = names
        self.route = route
        let consumer: AMQPConsumerSpec
        var topology = AMQPTopology()
        switch route {
        case .directReplyTo:
            consumer = AMQPConsumerSpec(queue: "amq.rabbitmq.reply-to", noAck: true)
        case .queue(let name):
            consumer = AMQPConsumerSpec(queue: name, prefetch: 500)
            topology.queues = [AMQPTopology.Queue(name: name, durable: true, arguments: ["x-expires": .int32(300_000)])]
        }
        var logger = Logger(label: "walink.test-caller")
        logger.logLevel = .warning
        let client = AMQPClient(configuration: try amqp ?? TestBroker.configuration(), topology: topology, consumers: [consumer], logger: logger)
        self.client = client
        task = Task { try await client.run() }
        let replies = replies
        collectTask = Task {
            for await delivery in client.deliveries {
                replies.append(delivery)
                client.ack(delivery)
            }
        }
    }

    public func close() async {
        await client.shutdown()
        _ = try? await task.value
        await collectTask.value
    }

    public struct Reply: Sendable {
        public let status: Int
        public let body: JSONValue
        public let delivery: AMQPDelivery
    }

    /// Publishes a command (through `walink.commands` unless `viaQueue`) and returns its correlation id.
    @discardableResult
    public func send(
        _ command: String,
        body: [UInt8] = [],
        correlationID: String = UUID().uuidString,
        messageID: String? = UUID().uuidString,
        headers: AMQPTable = [:],
        replyTo: String?? = .none,
        viaQueue: Bool = false,
        type: String? = nil
    ) async throws -> String {
        try await client.waitUntilConnected()
        let replyAddress: String?
        switch replyTo {
        case .some(let explicit): replyAddress = explicit
        case .none:
            switch route {
            case .directReplyTo: replyAddress = "amq.rabbitmq.reply-to"
            case .queue(let name): replyAddress = name
            }
        }
        let properties = AMQPProperties(
            contentType: "application/json", headers: headers, deliveryMode: 2, correlationID: correlationID,
            replyTo: replyAddress, messageID: messageID, type: type ?? (viaQueue ? command : nil)
        )
        let outcome = try await client.publish(
            AMQPMessage(body: body, properties: properties),
            exchange: viaQueue ? "" : names.commandsExchange,
            routingKey: viaQueue ? names.commandsQueue : command,
            timeout: .seconds(60)
        )
        precondition(outcome == .acked)
        return correlationID
    }

    /// Waits for the reply to `correlationID`.
    public func reply(to correlationID: String, timeout: Duration = .seconds(60)) async throws -> Reply {
        guard let items = await replies.wait(timeout: timeout, until: { $0.contains { $0.properties.correlationID == correlationID } }),
            let delivery = items.first(where: { $0.properties.correlationID == correlationID })
        else { throw BrokerControlError(message: "no reply to \(correlationID) within \(timeout)") }
        let status = delivery.properties.headers?["status"]?.intValue ?? -1
        let body = (try? JSONParser.parse(delivery.body)) ?? .null
        return Reply(status: status, body: body, delivery: delivery)
    }

    /// Sends and waits for the reply.
    public func call(
        _ command: String,
        json: String = "",
        messageID: String? = UUID().uuidString,
        headers: AMQPTable = [:],
        viaQueue: Bool = false
    ) async throws -> Reply {
        let id = try await send(command, body: Array(json.utf8), messageID: messageID, headers: headers, viaQueue: viaQueue)
        return try await reply(to: id)
    }
}
