import AMQP
import Foundation
import Gateway
import Synchronization
import Testing
import WalinkTestSupport

/// The real `walink worker` program and SIGTERM.
@Suite(.timeLimit(.minutes(5))) struct GracefulShutdownTests {
    @Test func sigtermAnswersTheCommandInFlightAndLosesNothing() async throws {
        let names = WalinkNames(prefix: TestBroker.uniqueName("t") + ".")
        let worker = try WalinkProcess(
            ["worker"],
            environment: [
                "WALINK_AMQP_URL": TestBroker.url, "WALINK_TOPOLOGY_PREFIX": names.prefix, "WALINK_DIAGNOSTIC_COMMANDS": "1",
                "WALINK_LOG_LEVEL": "debug", "WALINK_WORKER_ID": "sigterm-test",
            ])

        let caller = try TestCaller(names: names)
        // The worker has declared its topology and consumes once it logs the connection; the
        // deadlines are generous because a busy machine starts a debug build slowly, and waiting
        // longer costs nothing when it is quick.
        #expect(await worker.line(containing: "AMQP connected") != nil)
        let ping = try await caller.reply(to: try await caller.send("worker.ping"), timeout: .seconds(60))
        #expect(ping.body.objectValue?["worker"] == "sigterm-test")

        // A slow command; SIGTERM once the worker has started it.
        let slow = try await caller.send("diag.sleep", body: Array("{\"ms\":1500}".utf8), correlationID: "in-flight")
        #expect(await worker.log.wait { $0.contains { $0.text.contains("Command started") && $0.text.contains("in-flight") } } != nil)
        kill(worker.processIdentifier, SIGTERM)
        #expect(await worker.line(containing: "Worker stopping") != nil)
        // Sent once the worker stopped taking commands: must stay queued for the next worker.
        let late = try await caller.send("worker.ping", correlationID: "after-sigterm")

        let reply = try await caller.reply(to: slow, timeout: .seconds(60))
        #expect(reply.status == 200)
        #expect(reply.body.objectValue?["slept"] == 1500)
        let status = try #require(await worker.exits.wait(count: 1)).first
        #expect(status == 0)

        let successor = try await TestWorker.start(names: names)
        let lateReply = try await caller.reply(to: late, timeout: .seconds(60))
        #expect(lateReply.status == 200)
        #expect(lateReply.body.objectValue?["worker"] == "test-worker")
        await successor.stop()
        await caller.close()
    }

    /// SIGTERM returns nothing to the queue: the worker cancels its consumer before it drains, so no
    /// command arrives meanwhile to be given back at close, which on RabbitMQ 3.10 would count
    /// towards the delivery limit. The commands it never got reach the next consumer undelivered.
    @Test func sigtermGivesNoCommandBack() async throws {
        let names = WalinkNames(prefix: TestBroker.uniqueName("t") + ".")
        let worker = try WalinkProcess(
            ["worker"],
            environment: [
                "WALINK_AMQP_URL": TestBroker.url, "WALINK_TOPOLOGY_PREFIX": names.prefix, "WALINK_DIAGNOSTIC_COMMANDS": "1",
                "WALINK_LOG_LEVEL": "debug", "WALINK_WORKER_ID": "sigterm-drain", "WALINK_CONCURRENCY": "2",
            ])
        #expect(await worker.line(containing: "AMQP connected") != nil)
        let caller = try TestCaller(names: names)
        let ids = (0..<6).map { "drain-\($0)" }
        // The first ends long before the second: its ack frees a prefetch slot while the worker drains,
        // which the broker would fill if the consumer were still there.
        for (index, id) in ids.enumerated() {
            let milliseconds = index == 0 ? 300 : 3000
            try await caller.send("diag.sleep", body: Array("{\"ms\":\(milliseconds)}".utf8), correlationID: id)
        }
        // Two in flight (the prefetch), four waiting in the queue; SIGTERM once two have started.
        #expect(await worker.log.wait { $0.filter { $0.text.contains("Command started") }.count >= 2 } != nil)
        kill(worker.processIdentifier, SIGTERM)
        let status = try #require(await worker.exits.wait(count: 1)).first
        #expect(status == 0)
        let answered = Set(caller.replies.items.compactMap(\.properties.correlationID))
        #expect(answered.count >= 2)

        // The rest, taken by a plain consumer: never delivered before, none counted as returned.
        let next = AMQPClient(configuration: try TestBroker.configuration(), consumers: [AMQPConsumerSpec(queue: names.commandsQueue)])
        try await withRunningClient(next) { next, deliveries in
            let rest = try #require(await deliveries.wait(count: ids.count - answered.count))
            #expect(Set(rest.compactMap(\.properties.correlationID)).union(answered) == Set(ids))
            for delivery in rest {
                #expect(!delivery.redelivered)
                #expect(delivery.properties.headers?["x-delivery-count"] == nil)
                next.ack(delivery)
            }
        }
        await caller.close()
    }
}
