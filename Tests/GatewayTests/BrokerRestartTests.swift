import AMQP
import Foundation
import Gateway
import Testing
import WalinkTestSupport

/// A broker restart in the middle of a stream of commands: every command gets its answer and
/// none runs twice. Uses a broker of its own, so the other suites are not disturbed.
@Suite(.serialized, .timeLimit(.minutes(4))) struct BrokerRestartTests {
    @Test func everyCommandIsAnsweredAndNoneRunsTwice() async throws {
        try await PrivateBroker.with(port: 5698) { broker in
            let counter = CountingHandler()
            let worker = try await TestWorker.start(handlers: [counter], amqp: try broker.configuration())
            let caller = try TestCaller(names: worker.names, route: .queue(TestBroker.uniqueName("replies")), amqp: try broker.configuration())

            let total = 120
            let ids = (0..<total).map { "cmd-\($0)" }
            @Sendable func send(_ id: String, milliseconds: Int) async throws {
                try await caller.send("test.count", body: Array("{\"id\":\"\(id)\",\"ms\":\(milliseconds)}".utf8), correlationID: id, messageID: id)
            }
            // The first half is slow, so the worker is in the middle of them when the broker stops; the
            // second half is sent while it is down (the caller's client holds them until it reconnects).
            for id in ids[..<(total / 2)] { try await send(id, milliseconds: 400) }
            try await broker.stop()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { for id in ids[(total / 2)...] { try await send(id, milliseconds: 20) } }
                group.addTask { try await broker.start() }
                try await group.waitForAll()
            }

            // A caller re-sends (same message id) what was not answered in time, as a real one would.
            var answered: Set<String> = []
            for _ in 0..<4 {
                let waiting = Set(ids).subtracting(answered)
                if waiting.isEmpty { break }
                let replies =
                    await caller.replies.wait(timeout: .seconds(20)) { items in
                        waiting.isSubset(of: Set(items.compactMap(\.properties.correlationID)))
                    } ?? caller.replies.items
                answered.formUnion(replies.compactMap(\.properties.correlationID))
                for id in Set(ids).subtracting(answered) { try await send(id, milliseconds: 20) }
            }

            #expect(answered == Set(ids))
            // The second half could only be answered over a new connection.
            #expect(caller.replies.items.allSatisfy { $0.properties.headers?["status"] == .int32(200) })
            let counts = counter.all
            #expect(counts.count == total)
            #expect(counts.values.allSatisfy { $0 == 1 }, "ran more than once: \(counts.filter { $0.value > 1 })")
            #expect(worker.amqp.connectionCount >= 2)
            await caller.close()
            await worker.stop()
        }
    }
}
