import AMQP
import Foundation
import Testing
import WalinkTestSupport

/// Several nodes in one URL. The private nodes here are independent brokers rather than a cluster:
/// what is tested is the client's side (which node it goes to, and what it re-sends there).
@Suite(.timeLimit(.minutes(5))) struct FailoverTests {
    /// A node that takes publishes but never confirms them (its VM frozen, as a node cut off from
    /// its cluster behaves) is left for the next one, where the publish is sent again and delivered;
    /// then that node stops, and the client goes round to the first one again.
    @Test func aNodeThatStopsConfirmingOrStopsIsLeftForTheNext() async throws {
        try await PrivateBroker.with(port: 5715) { first in
            try await PrivateBroker.with(port: 5716) { second in
                let brokers = [first.port: first, second.port: second]
                let queue = TestBroker.uniqueName("amqp-test.failover")
                var configuration = try AMQPConfiguration(url: "amqp://guest:guest@127.0.0.1:\(first.port),127.0.0.1:\(second.port)/")
                // No heartbeats: only the confirm deadline can notice the frozen node.
                configuration.heartbeatSeconds = 0
                configuration.confirmTimeout = .seconds(2)
                configuration.connectTimeoutSeconds = 5
                configuration.reconnectInitialDelay = 0.05
                configuration.reconnectMaxDelay = 0.5
                let logs = LogCapture()
                let client = AMQPClient(
                    configuration: configuration,
                    topology: AMQPTopology(queues: [AMQPTopology.Queue(name: queue, durable: false, arguments: ["x-expires": .int32(300_000)])]),
                    consumers: [AMQPConsumerSpec(queue: queue)],
                    logger: logs.logger(label: "failover")
                )
                try await withRunningClient(client) { client, deliveries in
                    let frozenNode = try #require(client.connectedNode)
                    let frozen = try #require(brokers[frozenNode.port])
                    let other = try #require(brokers.values.first { $0.port != frozenNode.port })

                    try await frozen.pause()
                    let outcome: AMQPPublishOutcome
                    do {
                        // Far beyond the confirm deadline: the publish outlives the frozen node.
                        outcome = try await client.publish(
                            AMQPMessage(body: Array("while frozen".utf8)), exchange: "", routingKey: queue, timeout: .seconds(120))
                    } catch {
                        try await frozen.resume()
                        throw error
                    }
                    try await frozen.resume()
                    #expect(outcome == .acked)
                    #expect(client.connectedNode?.port == other.port)
                    #expect(logs.all.contains { $0.contains("confirm_timed_out") })
                    let delivered = try #require(
                        await deliveries.wait(timeout: .seconds(60)) { $0.contains { $0.body == Array("while frozen".utf8) } })
                    for delivery in delivered { client.ack(delivery) }

                    // The node the client moved to stops: back round to the first, thawed one.
                    try await other.stop()
                    let again = try await client.publish(
                        AMQPMessage(body: Array("after a stop".utf8)), exchange: "", routingKey: queue, timeout: .seconds(120))
                    #expect(again == .acked)
                    #expect(client.connectedNode?.port == frozenNode.port)
                    #expect(client.connectionCount >= 3)
                    let later = try #require(await deliveries.wait(timeout: .seconds(60)) { $0.contains { $0.body == Array("after a stop".utf8) } })
                    for delivery in later where delivery.body == Array("after a stop".utf8) { client.ack(delivery) }
                    // The logs name the nodes, never the password.
                    #expect(logs.all.contains { $0.contains("127.0.0.1:\(frozenNode.port)") })
                    #expect(!logs.all.contains { $0.contains("guest:guest") })
                }
            }
        }
    }

    /// A node that refuses connections is skipped within the round, whichever place the shuffle
    /// gave it: a client allowed a single round still connects.
    @Test func aDeadNodeInTheListIsSkipped() async throws {
        let live = try #require(try TestBroker.configuration().nodes.first)
        for _ in 0..<6 {
            var configuration = try TestBroker.configuration()
            configuration.nodes = [AMQPConfiguration.Node(host: "127.0.0.1", port: 1), live]
            let client = AMQPClient(configuration: configuration, maxConnectAttempts: 1)
            #expect(Set(client.nodeOrder) == Set(configuration.nodes))
            try await withRunningClient(client) { client, _ in
                #expect(client.connectedNode == live)
                let outcome = try await client.publish(AMQPMessage(body: [1]), exchange: "", routingKey: "nowhere", timeout: .seconds(60))
                #expect(outcome == .acked)
            }
        }
    }

    /// When no node takes us, the client gives up after its rounds with the last error, and neither
    /// the error nor the logs carry the password.
    @Test func failedRoundsNeverShowThePassword() async throws {
        let secret = "pw-\(UInt64.random(in: 0...UInt64.max))"
        let live = try #require(try TestBroker.configuration().nodes.first)
        var configuration = try AMQPConfiguration(url: "amqp://guest:\(secret)@127.0.0.1:1,\(live)/")
        configuration.reconnectInitialDelay = 0.01
        let logs = LogCapture()
        let client = AMQPClient(configuration: configuration, maxConnectAttempts: 2, logger: logs.logger())
        let error = await #expect(throws: AMQPError.self) { try await client.run() }
        #expect(error?.code == .loginFailed || error?.code == .connectionFailed)
        // Two rounds over both nodes.
        #expect(logs.all.filter { $0.contains("AMQP connect failed") }.count == 4)
        #expect(logs.all.contains { $0.contains("127.0.0.1:1") } && logs.all.contains { $0.contains("\(live)") })
        #expect(!logs.all.contains { $0.contains(secret) })
        #expect(!"\(error.map { "\($0)" } ?? "")".contains(secret))
    }
}
