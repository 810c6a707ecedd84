import AMQP
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Store

/// One walink worker, put together: its broker connection, the sessions it links, the command
/// pipeline and the consumer that feeds it. Run ``services`` in one `ServiceGroup`.
///
/// The order of ``services`` is the order of dependence, so the group's reverse-order graceful
/// shutdown is the worker's drain: first it stops taking commands from `walink.commands` (other
/// workers take them), then its pairings may finish for up to the drain time while it still answers
/// the commands forwarded to it (new pairings get 503), then they are stopped (their last events
/// still go out) and its tenure retired, then the consumer answers what it holds, and finally the
/// connection waits for the broker's confirms and closes.
public struct Worker: Sendable {
    public let configuration: WorkerConfiguration
    /// The worker's broker connection; other components publish through it.
    public let amqp: AMQPClient
    /// The sessions this worker is linking (nil without a store or linking configuration).
    public let links: LinkManager?
    public let pipeline: CommandPipeline
    public let consumer: CommandConsumer

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
        amqp = AMQPClient(
            configuration: configuration.connectionConfiguration,
            topology: configuration.topology(extraCommands: extraHandlers.map(\.name)),
            consumers: [
                AMQPConsumerSpec(queue: configuration.names.commandsQueue, prefetch: configuration.concurrency),
                AMQPConsumerSpec(queue: configuration.workerQueue, prefetch: configuration.concurrency),
            ],
            logger: logger
        )

        var links: LinkManager? = nil
        if let store, let linking {
            links = LinkManager(
                configuration: linking, workerID: configuration.workerID, store: store,
                events: EventPublisher(amqp: amqp, names: configuration.names, timeout: configuration.publishTimeout, logger: logger),
                eventLoopGroup: eventLoopGroup, logger: logger
            )
        }
        var handlers: [any CommandHandler] = [WorkerPing(workerID: configuration.workerID, links: links)]
        if let store {
            handlers += [
                SessionCreate(store: store), SessionGet(), SessionList(store: store),
                SessionDelete(store: store, links: links), SessionMe(),
            ]
            if let links { handlers += [SessionQR(links: links), SessionPairingCode(links: links)] }
        }
        if configuration.diagnosticCommands { handlers.append(DiagnosticSleep()) }
        self.links = links
        pipeline = CommandPipeline(
            configuration: configuration.pipeline, handlers: handlers + extraHandlers, authenticator: authenticator, store: store,
            logger: logger)
        consumer = CommandConsumer(
            amqp: amqp, pipeline: pipeline, configuration: configuration,
            forwardTimeToLive: (linking?.leaseDuration ?? .seconds(29)) + .seconds(1), logger: logger)
    }

    /// The names of the commands this worker answers.
    public var commandNames: [String] { pipeline.commandNames }

    /// The worker's services in dependency order; graceful shutdown stops them last to first.
    public var services: [any Service] {
        var services: [any Service] = [amqp, consumer]
        if let links { services.append(links) }
        services.append(CommandIntake(amqp: amqp, sharedQueue: configuration.names.commandsQueue))
        return services
    }
}
