import AMQP
import Auth
import Foundation
import Gateway
import Store
import Testing
import WalinkTestSupport
import WhatsAppSimulator

/// SIGTERM drains a worker: it leaves `walink.commands` to the others at once, refuses new
/// pairings, still answers what is forwarded to it, lets a running pairing finish, and stops when
/// it has; or stops what still runs when the drain time is up.
@Suite(.timeLimit(.minutes(5))) struct DrainTests {
    /// Publishes straight to one worker's own queue.
    func send(_ command: String, _ body: JSONValue, to queue: String, harness: LinkingHarness) async throws -> TestCaller.Reply {
        let id = UUID().uuidString
        let properties = AMQPProperties(
            contentType: "application/json", headers: ["authorization": .string("Bearer \(harness.key)")],
            correlationID: id, replyTo: "amq.rabbitmq.reply-to", messageID: UUID().uuidString, type: command
        )
        try await harness.caller.client.waitUntilConnected()
        _ = try await harness.caller.client.publish(AMQPMessage(body: body.serialized, properties: properties), exchange: "", routingKey: queue)
        return try await harness.caller.reply(to: id)
    }

    @Test func aDrainingWorkerLetsItsPairingFinishAndTakesNoNewOnes() async throws {
        var timing = LinkingHarness.Timing()
        timing.drain = .seconds(120)
        let harness = try await LinkingHarness.start(timing: timing, workerID: "leaving")
        let names = harness.worker.names
        try await harness.createSession("running")
        try await harness.createSession("newcomer")
        #expect(try await harness.call("session.qr", ["session": "running"]).status == 404)
        let qr = try #require(await harness.qr("running"))
        // A second worker that stays.
        let callers = try CallerAuthenticator(configuration: AuthConfiguration(), apiKeys: StoreAPIKeyResolver(store: harness.store))
        let endpoints = try #require(harness.simulator.endpoints)
        let staying = try await TestWorker.start(
            store: harness.store, linking: try LinkingHarness.linkingConfiguration(endpoints, timing: .init()),
            authenticator: GatewayAuthenticator(callers: callers), names: names, configure: { $0.workerID = "staying" })

        await harness.worker.beginStopping()
        let links = try #require(harness.worker.links)
        #expect(await Deadline.within(.seconds(60)) { await links.waitUntilDraining() })

        // The shared queue is the other worker's now; the leaving one says it is draining.
        let shared = try await harness.call("worker.ping", [:])
        #expect(shared.body.objectValue?["worker"] == "staying")
        let direct = try await send("worker.ping", [:], to: names.workerQueue("leaving"), harness: harness)
        #expect(direct.body.objectValue?["draining"] == .bool(true))
        // Commands for its running pairing still reach it (forwarded by the other worker)...
        let forwarded = try await harness.call("session.qr", ["session": "running"])
        #expect(forwarded.status == 200)
        #expect(forwarded.body.objectValue?["qr"] == .string(qr))
        // ...but it starts no new pairing; the other worker does.
        let refused = try await send("session.qr", ["session": "newcomer"], to: names.workerQueue("leaving"), harness: harness)
        #expect(refused.status == 503)
        #expect(try await harness.call("session.qr", ["session": "newcomer"]).status == 404)
        #expect(try await harness.store.sessionOwner(organization: "acme", session: "newcomer")?.owner.worker == "staying")

        // The running pairing completes on the leaving worker, which then stops by itself.
        guard case .paired = try await harness.simulator.scan(qr: qr) else {
            Issue.record("the scan did not pair")
            return
        }
        #expect(await harness.event("auth.paired", session: "running") != nil)
        #expect(await Deadline.within(.seconds(60)) { await harness.worker.stopped() })
        #expect(!harness.events.items.contains { $0.objectValue?["type"] == "auth.failed" && $0.objectValue?["session"] == "running" })
        #expect(try await harness.store.session(organization: "acme", id: "running")?.status == .paired)
        await staying.stop()
        await harness.stop()
    }

    @Test func pairingsStillRunningWhenTheDrainTimeIsUpAreStopped() async throws {
        var timing = LinkingHarness.Timing()
        timing.drain = .seconds(1)
        let harness = try await LinkingHarness.start(timing: timing, workerID: "short-drain")
        try await harness.createSession("unfinished")
        #expect(try await harness.call("session.qr", ["session": "unfinished"]).status == 404)
        _ = try #require(await harness.qr("unfinished"))
        await harness.worker.beginStopping()
        let stopped = try #require(await harness.event("auth.failed", session: "unfinished"))
        #expect(stopped["data"]?.objectValue?["reason"] == "worker_stopped")
        #expect(await Deadline.within(.seconds(60)) { await harness.worker.stopped() })
        // Its ownership went with its tenure: another worker may link the session at once.
        #expect(try await harness.store.sessionOwner(organization: "acme", session: "unfinished") == nil)
        await harness.stop()
    }
}
