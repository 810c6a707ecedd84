import AMQP
import Foundation
import Gateway
import Testing
import WalinkTestSupport

/// The command/reply contract, end to end through the real broker.
@Suite(.timeLimit(.minutes(5))) struct CommandEnvelopeTests {
    @Test func pingRoundTripViaDirectReplyTo() async throws {
        let worker = try await TestWorker.start()
        let caller = try TestCaller(names: worker.names)
        let reply = try await caller.call("worker.ping")
        #expect(reply.status == 200)
        #expect(reply.body == ["worker": "test-worker", "version": .string(WalinkVersion.current), "draining": false])
        #expect(reply.delivery.properties.contentType == "application/json")
        await caller.close()
        await worker.stop()
    }

    @Test func pingRoundTripViaAnOrdinaryReplyQueueAndTheTypeProperty() async throws {
        let worker = try await TestWorker.start()
        let caller = try TestCaller(names: worker.names, route: .queue(TestBroker.uniqueName("replies")))
        let viaExchange = try await caller.call("worker.ping")
        #expect(viaExchange.status == 200)
        // Straight to the queue, the command name travels in the `type` property.
        let viaQueue = try await caller.call("worker.ping", viaQueue: true)
        #expect(viaQueue.status == 200)
        #expect(viaQueue.body.objectValue?["worker"] == "test-worker")
        #expect(viaQueue.delivery.properties.deliveryMode == AMQPProperties.persistentDeliveryMode)
        await caller.close()
        await worker.stop()
    }

    @Test func correlationIDAndMessageIDComeBack() async throws {
        let worker = try await TestWorker.start()
        let caller = try TestCaller(names: worker.names)
        let id = try await caller.send("worker.ping", correlationID: "my-correlation-42", messageID: "msg-42")
        let reply = try await caller.reply(to: id)
        #expect(reply.delivery.properties.correlationID == "my-correlation-42")
        #expect(reply.delivery.properties.messageID == "msg-42")
        #expect(reply.delivery.properties.headers?["status"] == .int32(200))
        await caller.close()
        await worker.stop()
    }

    struct BadBody: Sendable, CustomTestStringConvertible {
        let label: String
        let command: String
        let body: String
        let field: String
        var testDescription: String { label }
    }

    static let badBodies: [BadBody] = [
        .init(label: "malformed JSON", command: "worker.ping", body: "{\"a\":", field: "body"),
        .init(label: "not JSON at all", command: "worker.ping", body: "hello", field: "body"),
        .init(label: "array body", command: "worker.ping", body: "[1,2]", field: "body"),
        .init(label: "string body", command: "worker.ping", body: "\"x\"", field: "body"),
        .init(label: "duplicate keys", command: "test.count", body: "{\"id\":\"a\",\"id\":\"b\"}", field: "body"),
        .init(label: "invalid UTF-8 in a string", command: "test.count", body: "{\"id\":\"\u{FFFD}\"}", field: "id"),
        .init(label: "wrong type: number for string", command: "test.count", body: "{\"id\":5}", field: "id"),
        .init(label: "wrong type: string for integer", command: "test.count", body: "{\"id\":\"a\",\"ms\":\"5\"}", field: "ms"),
        .init(label: "wrong type: integer for boolean", command: "test.count", body: "{\"id\":\"a\",\"flag\":1}", field: "flag"),
        .init(label: "out of range", command: "test.count", body: "{\"id\":\"a\",\"ms\":-1}", field: "ms"),
        .init(label: "missing required field", command: "test.count", body: "{}", field: "id"),
        .init(label: "unknown field", command: "worker.ping", body: "{\"surprise\":true}", field: "surprise"),
    ]

    @Test(arguments: badBodies)
    func badBodiesAreValidationErrorsNamingTheField(_ bad: BadBody) async throws {
        let counter = CountingHandler()
        let worker = try await TestWorker.start(handlers: [counter])
        let caller = try TestCaller(names: worker.names)
        var body = Array(bad.body.utf8)
        if bad.label.hasPrefix("invalid UTF-8") { body = Array("{\"id\":\"".utf8) + [0xC3, 0x28] + Array("\"}".utf8) }
        let id = try await caller.send(bad.command, body: body)
        let reply = try await caller.reply(to: id)
        #expect(reply.status == 400)
        let error = try #require(reply.body.objectValue?["error"]?.objectValue)
        #expect(error["code"] == "validation_error")
        #expect(error["details"]?.objectValue?["field"] == .string(bad.field == "id" && bad.label.hasPrefix("invalid UTF-8") ? "body" : bad.field))
        #expect(counter.all.isEmpty)
        await caller.close()
        await worker.stop()
    }

    @Test func oversizedBodyIsRefusedWithTheLimit() async throws {
        let worker = try await TestWorker.start { $0.maxBodySize = 1024 }
        let caller = try TestCaller(names: worker.names)
        let big = Array("{\"x\":\"".utf8) + [UInt8](repeating: 0x61, count: 200_000) + Array("\"}".utf8)
        let reply = try await caller.reply(to: try await caller.send("worker.ping", body: big))
        #expect(reply.status == 400)
        let details = reply.body.objectValue?["error"]?.objectValue?["details"]?.objectValue
        #expect(details?["field"] == "body")
        #expect(details?["limit"] == 1024)
        #expect(details?["size"] == .int(Int64(big.count)))
        // The worker is fine afterwards.
        #expect(try await caller.call("worker.ping").status == 200)
        await caller.close()
        await worker.stop()
    }

    @Test func unknownCommandIsNotImplemented() async throws {
        let worker = try await TestWorker.start()
        let caller = try TestCaller(names: worker.names)
        for viaQueue in [false, true] {
            let reply = try await caller.call("session.teleport", viaQueue: viaQueue)
            #expect(reply.status == 501)
            #expect(reply.body.objectValue?["error"]?.objectValue?["code"] == "not_implemented")
            #expect(reply.body.objectValue?["error"]?.objectValue?["details"]?.objectValue?["command"] == "session.teleport")
        }
        await caller.close()
        await worker.stop()
    }

    @Test func missingCommandNameNamesTheTypeProperty() async throws {
        let worker = try await TestWorker.start()
        let caller = try TestCaller(names: worker.names)
        // Straight to the queue without a type property: there is no command name anywhere.
        let id = try await caller.send("", viaQueue: true, type: "")
        let reply = try await caller.reply(to: id)
        #expect(reply.status == 400)
        #expect(reply.body.objectValue?["error"]?.objectValue?["details"]?.objectValue?["field"] == "type")
        await caller.close()
        await worker.stop()
    }

    @Test func protectedCommandsNeedCredentials() async throws {
        struct Protected: CommandHandler {
            var name: String { "test.protected" }
            var parameters: ParameterSchema { .empty }
            func handle(_ request: CommandRequest) async throws(GatewayError) -> CommandResult { CommandResult(body: [:]) }
        }
        let worker = try await TestWorker.start(handlers: [Protected()])
        let caller = try TestCaller(names: worker.names)
        let reply = try await caller.call("test.protected", headers: ["authorization": .string("Bearer whatever")])
        #expect(reply.status == 401)
        #expect(reply.body.objectValue?["error"]?.objectValue?["code"] == "unauthorized")
        await caller.close()
        await worker.stop()
    }

    @Test func withoutReplyToTheResultGoesToTheResultsExchange() async throws {
        let worker = try await TestWorker.start()
        let resultsQueue = TestBroker.uniqueName("results")
        let listener = AMQPClient(
            configuration: try TestBroker.configuration(),
            topology: AMQPTopology(
                queues: [AMQPTopology.Queue(name: resultsQueue, durable: false, exclusive: true, autoDelete: true)],
                bindings: [AMQPTopology.Binding(queue: resultsQueue, exchange: worker.names.resultsExchange, routingKey: "#")]
            ),
            consumers: [AMQPConsumerSpec(queue: resultsQueue)]
        )
        let caller = try TestCaller(names: worker.names)
        try await withRunningClient(listener) { listener, results in
            try await caller.send("worker.ping", correlationID: "no-reply-to", replyTo: .some(nil))
            let result = try #require(await results.wait(count: 1)).first!
            #expect(result.routingKey == "-.-.worker.ping")
            #expect(result.properties.correlationID == "no-reply-to")
            #expect(result.properties.headers?["status"] == .int32(200))
            #expect(try JSONParser.parse(result.body).objectValue?["worker"] == "test-worker")
            listener.ack(result)
        }
        await caller.close()
        await worker.stop()
    }

    @Test func hostileMessagesNeverStopTheWorker() async throws {
        let counter = CountingHandler()
        let worker = try await TestWorker.start(handlers: [counter])
        let caller = try TestCaller(names: worker.names)
        var generator = SystemRandomNumberGenerator()
        var ids: [String] = []
        for round in 0..<150 {
            let length = Int.random(in: 0...2048, using: &generator)
            let body = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let headers: AMQPTable = [
                "authorization": round % 3 == 0 ? .int64(Int64(round)) : .bytes((0..<32).map { _ in UInt8.random(in: 0...255) }),
                "status": .array([.bool(true), .table(["x": .void])]),
            ]
            let command = ["worker.ping", "test.count", "", "a.b.c.d", String(repeating: "x", count: 200)][round % 5]
            ids.append(try await caller.send(command, body: body, headers: headers, viaQueue: round % 2 == 0, type: command))
        }
        for id in ids {
            let reply = try await caller.reply(to: id)
            #expect([200, 400, 501].contains(reply.status))
        }
        #expect(try await caller.call("worker.ping").status == 200)
        await caller.close()
        await worker.stop()
    }
}
