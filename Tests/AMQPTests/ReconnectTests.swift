import AMQP
import Foundation
import Testing
import WalinkTestSupport

/// Restarts a broker of its own, so the other suites' broker is never disturbed.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ReconnectTests {
    @Test func survivesABrokerRestartAndRedeclaresItsTopology() async throws {
        let broker = PrivateBroker(port: 5697)
        try broker.start()
        defer { try? broker.stop() }
        let queue = TestBroker.uniqueName("amqp-test.restart")
        let client = AMQPClient(
            configuration: try broker.configuration(),
            topology: AMQPTopology(
                exchanges: [AMQPTopology.Exchange(name: queue + ".x", type: "direct")],
                queues: [AMQPTopology.Queue(name: queue, arguments: ["x-queue-type": .string("quorum")])],
                bindings: [AMQPTopology.Binding(queue: queue, exchange: queue + ".x", routingKey: "k")]
            ),
            consumers: [AMQPConsumerSpec(queue: queue)]
        )
        try await withRunningClient(client) { client, deliveries in
            let before = AMQPMessage(body: Array("before".utf8), properties: AMQPProperties(deliveryMode: 2))
            #expect(try await client.publish(before, exchange: queue + ".x", routingKey: "k") == .acked)
            let first = try #require(await deliveries.wait(count: 1))
            client.ack(first[0])

            try broker.restart()

            // Published while the client is (or is about to be) disconnected: sent after reconnect.
            let after = AMQPMessage(body: Array("after".utf8), properties: AMQPProperties(deliveryMode: 2))
            #expect(try await client.publish(after, exchange: queue + ".x", routingKey: "k", timeout: .seconds(60)) == .acked)
            let all = try #require(await deliveries.wait(timeout: .seconds(60)) { items in
                items.contains { $0.body == Array("after".utf8) }
            })
            #expect(client.connectionCount >= 2)
            for delivery in all where delivery.body == Array("after".utf8) { client.ack(delivery) }
            // The acked "before" message must not come back after the restart.
            #expect(all.filter { $0.body == Array("before".utf8) }.count == 1)
        }
    }
}
