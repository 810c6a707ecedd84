import AMQP
import Foundation
import Testing
import WalinkTestSupport

/// Restarts a broker of its own, so the other suites' broker is never disturbed.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ReconnectTests {
    @Test func survivesABrokerRestartAndRedeclaresItsTopology() async throws {
        try await PrivateBroker.with(port: 5697) { broker in
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

                try await broker.restart()

                // Published while the client is (or is about to be) disconnected: sent after reconnect.
                let after = AMQPMessage(body: Array("after".utf8), properties: AMQPProperties(deliveryMode: 2))
                #expect(try await client.publish(after, exchange: queue + ".x", routingKey: "k", timeout: .seconds(60)) == .acked)
                let all = try #require(
                    await deliveries.wait(timeout: .seconds(60)) { items in
                        items.contains { $0.body == Array("after".utf8) }
                    })
                #expect(client.connectionCount >= 2)
                for delivery in all where delivery.body == Array("after".utf8) { client.ack(delivery) }
                // The acked "before" message must not come back after the restart.
                #expect(all.filter { $0.body == Array("before".utf8) }.count == 1)
            }
        }
    }
}

/// How the client reacts to the broker's own notifications.
@Suite(.serialized, .timeLimit(.minutes(3))) struct BrokerNotificationTests {
    @Test func aConsumerCancelledByTheBrokerIsRecreated() async throws {
        let queue = TestBroker.uniqueName("amqp-test.cancel")
        let client = AMQPClient(
            configuration: try TestBroker.configuration(),
            topology: AMQPTopology(queues: [AMQPTopology.Queue(name: queue, arguments: ["x-expires": .int32(60_000)])]),
            consumers: [AMQPConsumerSpec(queue: queue)]
        )
        let admin = AMQPClient(configuration: try TestBroker.configuration())
        try await withRunningClient(client) { client, deliveries in
            try await withRunningClient(admin) { admin, _ in
                try await admin.deleteQueue(queue)
                // The broker cancels the consumer; the client starts over, which declares the queue again.
                var reconnected = false
                for _ in 0..<200 where !reconnected {
                    reconnected = client.connectionCount >= 2 && client.isConnected
                    if !reconnected { try await Task.sleep(for: .milliseconds(25)) }
                }
                #expect(reconnected)
                #expect(try await admin.queueExists(queue))
                _ = try await admin.publish(AMQPMessage(body: [42]), exchange: "", routingKey: queue)
                let delivery = try #require(await deliveries.wait(count: 1)).first
                #expect(delivery?.body == [42])
                if let delivery { client.ack(delivery) }
            }
        }
    }

    @Test func aBlockedConnectionHoldsPublishesUntilUnblocked() async throws {
        try await PrivateBroker.with(port: 5695) { broker in
            let client = AMQPClient(configuration: try broker.configuration())
            try await withRunningClient(client) { client, _ in
                try await broker.control(["set_vm_memory_high_watermark", "0.000001"])
                // Held, not lost and not hanging the connection thread: it times out as asked.
                await #expect(throws: AMQPError(.publishTimedOut)) {
                    try await client.publish(AMQPMessage(body: [1]), exchange: "", routingKey: "nowhere", timeout: .seconds(3))
                }
                var blocked = false
                for _ in 0..<200 where !blocked {
                    blocked = client.isBlocked
                    if !blocked { try await Task.sleep(for: .milliseconds(25)) }
                }
                #expect(blocked)
                try await broker.control(["set_vm_memory_high_watermark", "0.4"])
                #expect(try await client.publish(AMQPMessage(body: [2]), exchange: "", routingKey: "nowhere", timeout: .seconds(30)) == .acked)
                #expect(!client.isBlocked)
            }
        }
    }
}
