import AMQP
import ArgumentParser
import Foundation
import Gateway
import Logging

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print events from walink.events as they happen, one JSON object per line.",
        discussion: """
            Binds a private queue to walink.events and prints {"routingKey": ..., "event": ...} lines.
            Events carry QR strings and pairing codes for the caller: treat the output as secret.
            Examples:
              walink events                       # everything
              walink events --pattern 'acme.*.auth.#'
            """
    )

    @Option(help: "Topic binding pattern: <org>.<session>.<event>, with * and # wildcards.")
    var pattern: String = "#"

    @Option(help: "Stop after this many events (default: run until interrupted).")
    var count: Int?

    @Option(help: "Broker URL (WALINK_AMQP_URL; default amqp://guest:guest@127.0.0.1:5672/).")
    var amqpURL: String?

    @Option(help: "Prefix of the broker object names, as the workers use it (WALINK_TOPOLOGY_PREFIX).")
    var topologyPrefix: String?

    func run() async throws {
        Settings.startLogging(level: .warning)
        let names = WalinkNames(prefix: Settings.string(topologyPrefix, "WALINK_TOPOLOGY_PREFIX", default: ""))
        var configuration = try AMQPConfiguration(
            url: Settings.string(amqpURL, "WALINK_AMQP_URL", default: "amqp://guest:guest@127.0.0.1:5672/"), environment: Settings.environment)
        configuration.connectionName = "walink events"
        let queue = "walink.events.tail.\(UUID().uuidString.lowercased())"
        let client = AMQPClient(
            configuration: configuration,
            topology: AMQPTopology(
                exchanges: [AMQPTopology.Exchange(name: names.eventsExchange, type: "topic")],
                queues: [AMQPTopology.Queue(name: queue, durable: false, exclusive: true, autoDelete: true)],
                bindings: [AMQPTopology.Binding(queue: queue, exchange: names.eventsExchange, routingKey: pattern)]
            ),
            consumers: [AMQPConsumerSpec(queue: queue, noAck: true, exclusive: true)],
            maxConnectAttempts: 3,
            logger: Logger(label: "walink.events")
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            var printed = 0
            for await delivery in client.deliveries {
                let event = (try? JSONParser.parse(delivery.body)) ?? .string(String(decoding: delivery.body, as: UTF8.self))
                // Written straight to the descriptor: unbuffered, so a pipe reader sees each line at once.
                FileHandle.standardOutput.write(
                    Data((JSONValue.object(["routingKey": .string(delivery.routingKey), "event": event]).text + "\n").utf8))
                printed += 1
                if let count, printed >= count { break }
            }
            await client.shutdown()
            try await group.waitForAll()
        }
    }
}
