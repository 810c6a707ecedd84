import AMQP
import Foundation
import Gateway
import Testing
import WalinkTestSupport

/// Messages nobody can answer end in walink.dead, whole, and never loop.
@Suite(.timeLimit(.minutes(5))) struct DeadLetterTests {
    /// A consumer on the test's dead-letter queue.
    func deadLetters(_ names: WalinkNames) throws -> AMQPClient {
        AMQPClient(configuration: try TestBroker.configuration(), consumers: [AMQPConsumerSpec(queue: names.deadQueue)])
    }

    @Test func unanswerableCommandsAreDeadLetteredWhole() async throws {
        let worker = try await TestWorker.start()
        let caller = try TestCaller(names: worker.names)
        try await withRunningClient(try deadLetters(worker.names)) { dead, received in
            // No reply_to and nothing to run: malformed body, unknown command.
            try await caller.send("worker.ping", body: Array("{oops".utf8), correlationID: "poison-1", replyTo: .some(nil))
            try await caller.send("no.such.command", body: Array("{}".utf8), correlationID: "poison-2", replyTo: .some(nil))
            let letters = try #require(await received.wait(count: 2))
            let byID = Dictionary(uniqueKeysWithValues: letters.map { ($0.properties.correlationID ?? "", $0) })
            #expect(byID["poison-1"]?.body == Array("{oops".utf8))
            #expect(byID["poison-2"]?.routingKey == "no.such.command")
            // Dead-lettered by the queue, with the broker's own record of why.
            let death = byID["poison-1"]?.properties.headers?["x-first-death-reason"]?.stringValue
            #expect(death == "rejected")
            for letter in letters { dead.ack(letter) }
        }
        #expect(try await caller.call("worker.ping").status == 200)
        await caller.close()
        await worker.stop()
    }

    @Test func aCommandThatKeepsFailingStopsAtTheDeliveryLimit() async throws {
        // A consumer that always gives the command back stands in for a worker that crashes on it.
        let names = WalinkNames(prefix: TestBroker.uniqueName("t") + ".")
        let topology = WalinkTopology.topology(commandNames: ["worker.ping"], deliveryLimit: 2, names: names)
        let crasher = AMQPClient(
            configuration: try TestBroker.configuration(),
            topology: topology,
            consumers: [AMQPConsumerSpec(queue: names.commandsQueue, prefetch: 1)]
        )
        let caller = try TestCaller(names: names)
        try await withRunningClient(crasher) { crasher, deliveries in
            try await withRunningClient(try deadLetters(names)) { dead, letters in
                try await caller.send("worker.ping", body: [], correlationID: "crashy")
                // Give it back each time it arrives, until its dead letter comes instead.
                enum Next: Sendable {
                    case redelivered([AMQPDelivery])
                    case deadLettered
                }
                var handled = 0
                while true {
                    let seen = handled
                    let next = await withTaskGroup(of: Next?.self) { race -> Next? in
                        race.addTask { await deliveries.wait(until: { $0.count > seen }).map(Next.redelivered) }
                        race.addTask { await letters.wait(until: { !$0.isEmpty }).map { _ in Next.deadLettered } }
                        defer { race.cancelAll() }
                        return await race.next() ?? nil
                    }
                    guard case .redelivered(let items) = next else { break }
                    for delivery in items[handled...] { crasher.reject(delivery, requeue: true) }
                    handled = items.count
                }
                let letter = try #require(await letters.wait(count: 1)).first!
                #expect(letter.properties.correlationID == "crashy")
                #expect(letter.properties.headers?["x-first-death-reason"]?.stringValue == "delivery_limit")
                #expect(handled == 3)  // delivered 1 + 2 redeliveries, then dead-lettered
                dead.ack(letter)
            }
        }
        await caller.close()
    }

    /// A command one return short of the queue's delivery limit is re-published by the worker and
    /// answered; one whose carried total (`x-walink-deliveries`) reaches the worker's own limit of 20
    /// is dead-lettered instead, so a poison command still stops.
    @Test func nearTheQueueLimitAWorkerRepublishesUntilItsOwnLimit() async throws {
        let names = WalinkNames(prefix: TestBroker.uniqueName("t") + ".")
        // A consumer that gives the commands back stands in for workers that died holding them.
        let returner = AMQPClient(
            configuration: try TestBroker.configuration(), topology: WalinkTopology.topology(commandNames: ["worker.ping"], names: names),
            consumers: [AMQPConsumerSpec(queue: names.commandsQueue, prefetch: 10)])
        let caller = try TestCaller(names: names)
        func returns(_ delivery: AMQPDelivery) -> Int { delivery.properties.headers?["x-delivery-count"]?.intValue ?? 0 }
        try await withRunningClient(returner) { returner, deliveries in
            try await caller.send("worker.ping", correlationID: "fresh")
            try await caller.send("worker.ping", correlationID: "worn", headers: [CommandEnvelopeHeader.deliveries: .int32(19)])
            // Given back until both arrive with 3 returns; closing the connection adds the 4th.
            var handled = 0
            var held: Set<String> = []
            while held.count < 2 {
                let seen = handled
                let items = try #require(await deliveries.wait(until: { $0.count > seen }))
                for delivery in items[handled...] {
                    if returns(delivery) < 3 {
                        returner.reject(delivery, requeue: true)
                    } else {
                        held.insert(delivery.properties.correlationID ?? "")
                    }
                }
                handled = items.count
            }
        }
        try await withRunningClient(try deadLetters(names)) { dead, received in
            let logs = LogCapture()
            let worker = try await TestWorker.start(names: names, logger: logs.logger(label: "republishing"))
            #expect(try await caller.reply(to: "fresh").status == 200)
            // Answered from the re-published copy, not from the delivery one return short of the limit.
            #expect(logs.all.contains { $0.contains("Command re-published near the delivery limit") && $0.contains("fresh") })
            let letter = try #require(await received.wait(count: 1)).first!
            #expect(letter.properties.correlationID == "worn")
            #expect(letter.properties.headers?["x-first-death-reason"]?.stringValue == "rejected")
            #expect(!caller.replies.items.contains { $0.properties.correlationID == "worn" })
            dead.ack(letter)
            await worker.stop()
        }
        await caller.close()
    }

    @Test func aReplyToAMissingQueueIsKeptInTheDeadLetterQueue() async throws {
        let worker = try await TestWorker.start()
        let caller = try TestCaller(names: worker.names)
        try await withRunningClient(try deadLetters(worker.names)) { dead, received in
            try await caller.send("worker.ping", correlationID: "lost-reply", replyTo: .some("no-such-reply-queue"))
            let letter = try #require(await received.wait(count: 1)).first!
            #expect(letter.properties.correlationID == "lost-reply")
            #expect(letter.properties.headers?["x-walink-reason"]?.stringValue == "reply queue not found")
            #expect(letter.properties.headers?["status"] == .int32(200))
            dead.ack(letter)
        }
        await caller.close()
        await worker.stop()
    }
}

/// The header in which a worker carries a command's deliveries across re-publishing.
enum CommandEnvelopeHeader {
    static let deliveries = "x-walink-deliveries"
}
