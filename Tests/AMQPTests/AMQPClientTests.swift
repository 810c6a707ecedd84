import AMQP
import Foundation
import Testing
import WalinkTestSupport

/// Against the real test broker (see `scripts/test`).
@Suite(.timeLimit(.minutes(2))) struct AMQPClientTests {
    /// A durable test queue that deletes itself a minute after its last use.
    func testQueue(_ name: String) -> AMQPTopology.Queue {
        AMQPTopology.Queue(name: name, durable: true, arguments: ["x-expires": .int32(60_000)])
    }

    @Test func publishesWithConfirmsAndDeliversWithProperties() async throws {
        let queue = TestBroker.uniqueName("amqp-test.props")
        let client = AMQPClient(
            configuration: try TestBroker.configuration(),
            topology: AMQPTopology(queues: [testQueue(queue)]),
            consumers: [AMQPConsumerSpec(queue: queue, prefetch: 10)]
        )
        let headers: AMQPTable = [
            "status": .int32(404), "flag": .bool(true), "big": .int64(-5_000_000_000), "text": .string("héllo"),
            "nested": .table(["list": .array([.int8(-1), .string("x"), .double(1.5)])]), "stamp": .timestamp(1_700_000_000),
        ]
        let properties = AMQPProperties(
            contentType: "application/json", headers: headers, deliveryMode: 2, correlationID: "corr-1",
            replyTo: "somewhere", expiration: "60000", messageID: "msg-1", timestamp: 1_700_000_001, type: "worker.ping", appID: "tests"
        )
        try await withRunningClient(client) { client, deliveries in
            let outcome = try await client.publish(
                AMQPMessage(body: Array("{\"a\":1}".utf8), properties: properties), exchange: "", routingKey: queue)
            #expect(outcome == .acked)
            let received = try #require(await deliveries.wait(count: 1)).first!
            #expect(received.body == Array("{\"a\":1}".utf8))
            #expect(received.queue == queue)
            #expect(received.routingKey == queue)
            #expect(!received.redelivered)
            #expect(received.properties == properties)
            client.ack(received)
        }
    }

    @Test func rejectedWithRequeueComesBackRedelivered() async throws {
        let queue = TestBroker.uniqueName("amqp-test.requeue")
        let client = AMQPClient(
            configuration: try TestBroker.configuration(),
            topology: AMQPTopology(queues: [testQueue(queue)]),
            consumers: [AMQPConsumerSpec(queue: queue, prefetch: 1)]
        )
        try await withRunningClient(client) { client, deliveries in
            _ = try await client.publish(AMQPMessage(body: [1, 2, 3]), exchange: "", routingKey: queue)
            let first = try #require(await deliveries.wait(count: 1)).first!
            client.reject(first, requeue: true)
            let all = try #require(await deliveries.wait(count: 2))
            #expect(all[1].redelivered)
            #expect(all[1].body == [1, 2, 3])
            client.ack(all[1])
        }
    }

    /// Acks sent together may be merged into one `basic.ack` with `multiple`; that must never
    /// settle a delivery nobody acked.
    @Test func batchedAcksSettleExactlyTheAckedDeliveries() async throws {
        let queue = TestBroker.uniqueName("amqp-test.acks")
        let first = AMQPClient(
            configuration: try TestBroker.configuration(),
            topology: AMQPTopology(queues: [testQueue(queue)]),
            consumers: [AMQPConsumerSpec(queue: queue, prefetch: 20)]
        )
        try await withRunningClient(first) { client, deliveries in
            for index in 0..<10 { _ = try await client.publish(AMQPMessage(body: [UInt8(index)]), exchange: "", routingKey: queue) }
            let received = try #require(await deliveries.wait(count: 10))
            // 3 and 6 stay unacked; the rest are acked back to back (one batch for the thread).
            for delivery in received where delivery.body != [3] && delivery.body != [6] { client.ack(delivery) }
            // A confirmed publish afterwards: the thread has handled the acks queued before it.
            _ = try await client.publish(AMQPMessage(body: [99]), exchange: "", routingKey: TestBroker.uniqueName("nowhere"))
        }
        // Closing the connection requeued exactly what was not acked.
        let second = AMQPClient(
            configuration: try TestBroker.configuration(),
            topology: AMQPTopology(queues: [testQueue(queue)]),
            consumers: [AMQPConsumerSpec(queue: queue, prefetch: 20)]
        )
        try await withRunningClient(second) { client, deliveries in
            let again = try #require(await deliveries.wait(count: 2))
            try await Task.sleep(for: .milliseconds(300))
            #expect(deliveries.items.map(\.body).sorted { $0[0] < $1[0] } == [[3], [6]])
            #expect(again.allSatisfy { $0.redelivered })
            for delivery in deliveries.items { client.ack(delivery) }
        }
    }

    @Test func mandatoryPublishToNowhereIsReturned() async throws {
        let client = AMQPClient(configuration: try TestBroker.configuration())
        try await withRunningClient(client) { client, _ in
            let outcome = try await client.publish(
                AMQPMessage(body: [0]), exchange: "", routingKey: TestBroker.uniqueName("no-such-queue"), mandatory: true
            )
            guard case .returned(let code, let text) = outcome else {
                Issue.record("expected a return, got \(outcome)")
                return
            }
            #expect(code == 312)
            #expect(text == "NO_ROUTE")
            // Without mandatory the same publish is simply acked.
            #expect(try await client.publish(AMQPMessage(body: [0]), exchange: "", routingKey: TestBroker.uniqueName("nowhere")) == .acked)
        }
    }

    @Test func directReplyToRoundTrip() async throws {
        let requests = TestBroker.uniqueName("amqp-test.requests")
        let requester = AMQPClient(
            configuration: try TestBroker.configuration(),
            consumers: [AMQPConsumerSpec(queue: "amq.rabbitmq.reply-to", noAck: true)]
        )
        let responder = AMQPClient(
            configuration: try TestBroker.configuration(),
            topology: AMQPTopology(queues: [testQueue(requests)]),
            consumers: [AMQPConsumerSpec(queue: requests)]
        )
        try await withRunningClient(responder) { responder, requestsSeen in
            try await withRunningClient(requester) { requester, replies in
                let request = AMQPMessage(
                    body: Array("ping".utf8), properties: AMQPProperties(correlationID: "c-42", replyTo: "amq.rabbitmq.reply-to"))
                _ = try await requester.publish(request, exchange: "", routingKey: requests)
                let received = try #require(await requestsSeen.wait(count: 1)).first!
                let replyTo = try #require(received.properties.replyTo)
                #expect(replyTo.hasPrefix("amq.rabbitmq.reply-to."))
                let reply = AMQPMessage(body: Array("pong".utf8), properties: AMQPProperties(correlationID: received.properties.correlationID))
                #expect(try await responder.publish(reply, exchange: "", routingKey: replyTo) == .acked)
                responder.ack(received)
                let answer = try #require(await replies.wait(count: 1)).first!
                #expect(answer.body == Array("pong".utf8))
                #expect(answer.properties.correlationID == "c-42")
                #expect(answer.noAck)
            }
        }
    }

    @Test func oversizedBodiesAreReportedNotKept() async throws {
        let queue = TestBroker.uniqueName("amqp-test.big")
        var configuration = try TestBroker.configuration()
        configuration.maxRetainedBodySize = 64 * 1024
        let client = AMQPClient(
            configuration: configuration,
            topology: AMQPTopology(queues: [testQueue(queue)]),
            consumers: [AMQPConsumerSpec(queue: queue)]
        )
        try await withRunningClient(client) { client, deliveries in
            let big = [UInt8](repeating: 7, count: 300_000)  // several 128 KiB frames
            let fits = [UInt8](repeating: 8, count: 64 * 1024)
            _ = try await client.publish(AMQPMessage(body: big), exchange: "", routingKey: queue)
            _ = try await client.publish(AMQPMessage(body: fits), exchange: "", routingKey: queue)
            let both = try #require(await deliveries.wait(count: 2))
            #expect(both[0].isBodyDiscarded)
            #expect(both[0].bodySize == 300_000)
            #expect(both[0].body.isEmpty)
            #expect(!both[1].isBodyDiscarded)
            #expect(both[1].body == fits)
            for delivery in both { client.ack(delivery) }
        }
    }

    @Test func queueProbeDoesNotBreakTheChannel() async throws {
        let queue = TestBroker.uniqueName("amqp-test.probe")
        let client = AMQPClient(configuration: try TestBroker.configuration(), topology: AMQPTopology(queues: [testQueue(queue)]))
        try await withRunningClient(client) { client, _ in
            #expect(try await client.queueExists(queue))
            #expect(try await !client.queueExists(TestBroker.uniqueName("missing")))
            #expect(try await client.publish(AMQPMessage(body: [1]), exchange: "", routingKey: queue) == .acked)
            let named = try await client.declareQueue(AMQPTopology.Queue(name: "", durable: false, exclusive: true, autoDelete: true))
            #expect(named.hasPrefix("amq.gen-"))
            #expect(client.connectionCount == 1)
        }
    }

    @Test func heartbeatsKeepAnIdleConnectionAlive() async throws {
        // Heartbeat 1 s: the broker drops a client after ~2 s without traffic, so staying connected
        // through 4 idle seconds shows the thread services heartbeats on its own.
        let client = AMQPClient(configuration: try TestBroker.configuration(heartbeat: 1))
        try await withRunningClient(client) { client, _ in
            try await Task.sleep(for: .seconds(4))
            #expect(client.isConnected)
            #expect(client.connectionCount == 1)
            #expect(try await client.publish(AMQPMessage(body: [1]), exchange: "", routingKey: "nowhere") == .acked)
        }
    }

    @Test func failsFastWhenNoBrokerAnswersAndAttemptsAreLimited() async throws {
        var configuration = try AMQPConfiguration(url: "amqp://guest:guest@127.0.0.1:1/")
        configuration.reconnectInitialDelay = 0.01
        let client = AMQPClient(configuration: configuration, maxConnectAttempts: 2)
        await #expect(throws: AMQPError(.connectionFailed)) { try await client.run() }
        // Whoever waits for the connection learns why there is none (walink call reports this).
        await #expect(throws: AMQPError(.connectionFailed)) { try await client.waitUntilConnected() }
        await #expect(throws: AMQPError(.shutdown)) {
            try await client.publish(AMQPMessage(body: []), exchange: "", routingKey: "x")
        }
    }

    @Test func wrongCredentialsAreALoginFailure() async throws {
        var configuration = try TestBroker.configuration()
        configuration.password = "definitely-wrong"
        configuration.reconnectInitialDelay = 0.01
        let client = AMQPClient(configuration: configuration, maxConnectAttempts: 1)
        await #expect(throws: AMQPError(.loginFailed)) { try await client.run() }
    }
}

/// Shutting down never hangs, whatever the connection is doing.
@Suite(.timeLimit(.minutes(1))) struct ShutdownTests {
    @Test func shutdownWhileTheBrokerIsUnreachableFailsWhatWasQueued() async throws {
        var configuration = try AMQPConfiguration(url: "amqp://guest:guest@127.0.0.1:1/")
        configuration.reconnectInitialDelay = 0.05
        configuration.reconnectMaxDelay = 0.2
        let client = AMQPClient(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            group.addTask {
                await #expect(throws: AMQPError(.shutdown)) {
                    try await client.publish(AMQPMessage(body: [1]), exchange: "", routingKey: "x", timeout: .seconds(600))
                }
            }
            group.addTask { await client.stopConsuming() }
            // Several shutdowns, queued together with the rest: every one returns.
            await client.shutdown()
            await client.shutdown()
            try await group.waitForAll()
        }
        #expect(!client.isConnected)
    }
}
