import AMQP
import Auth
import Foundation
import Gateway
import Store
import Testing
import WalinkTestSupport
import WhatsAppSimulator

/// Two workers, one store: a session's live connection stays with the worker holding its lease, and
/// the other worker forwards commands for it there.
@Suite(.timeLimit(.minutes(5))) struct FleetTests {
    /// Publishes straight to one worker's own queue, as if that worker had taken the command.
    func send(_ command: String, _ body: JSONValue, to workerQueue: String, harness: LinkingHarness) async throws -> TestCaller.Reply {
        let id = UUID().uuidString
        let properties = AMQPProperties(
            contentType: "application/json", headers: ["authorization": .string("Bearer \(harness.key)")],
            correlationID: id, replyTo: "amq.rabbitmq.reply-to", messageID: id, type: command
        )
        try await harness.caller.client.waitUntilConnected()
        _ = try await harness.caller.client.publish(AMQPMessage(body: body.serialized, properties: properties), exchange: "", routingKey: workerQueue)
        return try await harness.caller.reply(to: id)
    }

    @Test func theOtherWorkerForwardsToTheSessionsOwner() async throws {
        let harness = try await LinkingHarness.start(workerID: "owner")
        let names = harness.worker.names
        let callers = try CallerAuthenticator(configuration: AuthConfiguration(), apiKeys: StoreAPIKeyResolver(store: harness.store))
        let endpoints = try #require(harness.simulator.endpoints)
        let second = try await TestWorker.start(
            store: harness.store, linking: try LinkingHarness.linkingConfiguration(endpoints, timing: .init()),
            authenticator: GatewayAuthenticator(callers: callers), names: names, configure: { $0.workerID = "other" }
        )
        try await harness.createSession("shared")

        let started = try await send("session.qr", ["session": "shared"], to: names.workerQueue("owner"), harness: harness)
        #expect(started.status == 404)
        let qr = try #require(await harness.qr("shared"))

        // The other worker gets a command for it: the owner answers, with the owner's current code.
        let forwarded = try await send("session.qr", ["session": "shared"], to: names.workerQueue("other"), harness: harness)
        #expect(forwarded.status == 200)
        #expect(forwarded.body.objectValue?["qr"] == .string(qr))
        #expect(second.links?.activeCount == 0)
        #expect(harness.worker.links?.activeCount == 1)
        // Still one connection to WhatsApp for the session.
        #expect(harness.simulator.status().registrationConnections == 1)

        // Pairing codes go the same way and reuse the owner's connection.
        let phone = harness.simulator.defaultPhoneNumber
        let code = try await send(
            "session.pairing-code", ["session": "shared", "phone": .string(phone)], to: names.workerQueue("other"), harness: harness)
        #expect(code.status == 200)
        #expect(harness.simulator.status().registrationConnections == 1)

        // Deleting it through the other worker stops the owner's pairing first.
        let deleted = try await send("session.delete", ["session": "shared"], to: names.workerQueue("other"), harness: harness)
        #expect(deleted.status == 200)
        let stopped = try #require(await harness.event("auth.failed", session: "shared"))
        #expect(stopped["data"]?.objectValue?["reason"] == "session_deleted")
        #expect(try await harness.store.session(organization: "acme", id: "shared") == nil)
        await second.stop()
        await harness.stop()
    }
}

/// A command redelivered to another worker (the first died before acking) is answered again, not
/// run a second time.
@Suite(.timeLimit(.minutes(5))) struct FleetIdempotencyTests {
    @Test func aRedeliveredCreateIsAnsweredFromTheSharedRecord() async throws {
        let harness = try await SessionHarness.start()
        let names = harness.worker.names
        let callers = try CallerAuthenticator(configuration: AuthConfiguration(), apiKeys: StoreAPIKeyResolver(store: harness.store))
        let other = try await TestWorker.start(
            store: harness.store, authenticator: GatewayAuthenticator(callers: callers), names: names, configure: { $0.workerID = "other" }
        )
        func send(_ command: String, _ body: JSONValue, messageID: String, to worker: String) async throws -> TestCaller.Reply {
            let id = UUID().uuidString
            let properties = AMQPProperties(
                contentType: "application/json", headers: ["authorization": .string("Bearer \(harness.acmeKey)")],
                correlationID: id, replyTo: "amq.rabbitmq.reply-to", messageID: messageID, type: command
            )
            try await harness.caller.client.waitUntilConnected()
            _ = try await harness.caller.client.publish(
                AMQPMessage(body: body.serialized, properties: properties), exchange: "", routingKey: names.workerQueue(worker)
            )
            return try await harness.caller.reply(to: id)
        }
        let first = try await send("session.create", ["name": "once"], messageID: "create-1", to: "test-worker")
        #expect(first.status == 201)
        let again = try await send("session.create", ["name": "once"], messageID: "create-1", to: "other")
        #expect(again.status == 201)
        #expect(again.body == first.body)
        #expect(try await harness.store.listSessions(organization: "acme", limit: 100, cursor: nil).sessions.count == 1)
        // Another message id is another command.
        #expect(try await send("session.create", ["name": "twice"], messageID: "create-2", to: "other").status == 201)
        #expect(try await harness.store.listSessions(organization: "acme", limit: 100, cursor: nil).sessions.count == 2)
        await other.stop()
        await harness.stop()
    }
}
