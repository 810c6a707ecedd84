import AMQP
import Auth
import Foundation
import Gateway
import Store
import Testing
import WalinkTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// walink on a 3-node RabbitMQ 3.10 cluster (`scripts/broker-cluster`, ports 5721-5723) and the
/// quorum queue's delivery limit (a node of its own, port 5724). Serialized: each test already
/// keeps both cores busy, and the cluster ports are shared.
@Suite(.serialized, .timeLimit(.minutes(10))) struct ClusterTests {
    /// The worker's node is SIGKILLed in the middle of 1,000 `session.create` commands. The worker
    /// moves to another node, its unacked commands are redelivered by the cluster, and the caller
    /// re-sends (same `message_id`) what it heard nothing about: every command is answered 201,
    /// none runs twice (a second run would answer 409), and the store holds exactly 1,000 sessions.
    @Test func aNodeKilledUnderTheWorkerLosesNoCommandAndRunsNoneTwice() async throws {
        try await PrivateCluster.with { cluster in try await streamThroughANodeKill(cluster) }
    }

    /// Publishes `session.create` for session `id`; correlation and message id are derived from
    /// the session's id, so a retry is the same command.
    static func create(_ id: String, caller: TestCaller, headers: AMQPTable) async throws {
        try await caller.send(
            "session.create", body: Array("{\"session\":\"\(id)\"}".utf8), correlationID: id, messageID: "create-\(id)", headers: headers)
    }

    func streamThroughANodeKill(_ cluster: PrivateCluster) async throws {
        do {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("walink-cluster-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let store = try await SQLiteStore.open(path: directory.appendingPathComponent("walink.db").path, key: .key(.random()))
            let apiKey = try await store.createAPIKey(organization: "acme", name: nil, permissions: ["manage"]).key
            let callers = try CallerAuthenticator(configuration: AuthConfiguration(), apiKeys: StoreAPIKeyResolver(store: store))
            let worker = try await TestWorker.start(
                store: store, authenticator: GatewayAuthenticator(callers: callers), amqp: try cluster.configuration())
            let workerPort = try #require(worker.amqp.connectedNode?.port)
            let doomed = try #require(cluster.node(port: workerPort))
            // The caller stays on a node that survives, as a caller elsewhere in the network would.
            let callerNode = doomed == 1 ? 2 : 1
            let caller = try TestCaller(names: worker.names, amqp: try cluster.configuration(url: cluster.url(node: callerNode)))
            let headers: AMQPTable = ["authorization": .string("Bearer \(apiKey)")]

            let total = 1000
            let ids = (0..<total).map { String(format: "s-%04d", $0) }
            let killAfter = 200
            let answeredAtKill = Collector<Int>()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { for id in ids { try await Self.create(id, caller: caller, headers: headers) } }
                group.addTask {
                    // Mid-stream: once a third of the commands are answered, the rest queued or in flight.
                    let heard = await caller.replies.wait(timeout: .seconds(300)) { $0.count >= killAfter }
                    guard heard != nil else { throw BrokerControlError(message: "fewer than \(killAfter) answers before the kill") }
                    answeredAtKill.append(caller.replies.items.count)
                    try await cluster.kill(node: doomed)
                }
                try await group.waitForAll()
            }
            #expect((answeredAtKill.items.first ?? total) < total, "the stream was over before the kill")

            // A caller re-sends what it got no answer to within its timeout, as a real one would.
            var answered: Set<String> = []
            for _ in 0..<6 {
                let waiting = Set(ids).subtracting(answered)
                if waiting.isEmpty { break }
                let replies =
                    await caller.replies.wait(timeout: .seconds(20)) { items in
                        waiting.isSubset(of: Set(items.compactMap(\.properties.correlationID)))
                    } ?? caller.replies.items
                answered.formUnion(replies.compactMap(\.properties.correlationID))
                for id in Set(ids).subtracting(answered) { try await Self.create(id, caller: caller, headers: headers) }
            }

            #expect(answered == Set(ids), "unanswered: \(Set(ids).subtracting(answered).sorted().prefix(10))")
            var statuses: [Int: Int] = [:]
            var bodies: [String: Set<[UInt8]>] = [:]
            for reply in caller.replies.items {
                statuses[reply.properties.headers?["status"]?.intValue ?? -1, default: 0] += 1
                bodies[reply.properties.correlationID ?? "", default: []].insert(reply.body)
            }
            #expect(statuses[409] == nil, "ran twice: \(statuses)")
            #expect(statuses.keys.allSatisfy { $0 == 201 }, "statuses: \(statuses)")
            // An answer heard twice (a retry, a redelivery) is the recorded one, not a second run.
            #expect(bodies.values.allSatisfy { $0.count == 1 })
            var sessions: [String] = []
            var cursor: String? = nil
            repeat {
                let page = try await store.listSessions(organization: "acme", limit: 100, cursor: cursor)
                sessions += page.sessions.map(\.id)
                cursor = page.nextCursor
            } while cursor != nil
            #expect(sessions.count == total)
            #expect(Set(sessions) == Set(ids))
            // The kill did hit the worker's connection: it went on from another node.
            #expect(worker.amqp.connectionCount >= 2)
            #expect(worker.amqp.connectedNode?.port != workerPort)

            await caller.close()
            await worker.stop()
            await store.close()
        }
    }

    /// A `walink worker` process is killed with SIGKILL one more time than the queue's delivery
    /// limit, each time holding the same unacked commands (`diag.sleep`, a minute each). RabbitMQ
    /// 3.10 counts every such disconnect in `x-delivery-count` and dead-letters a message on the
    /// return that takes the count past the limit; the commands here are healthy, so none may land
    /// in `walink.dead` and the worker started last answers every one.
    @Test func commandsHeldByAWorkerKilledRepeatedlyAreNotDeadLettered() async throws {
        try await PrivateBroker.with(port: 5724) { broker in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("walink-crashes-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let keyHex = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max)) }.joined()
            let names = WalinkNames(prefix: TestBroker.uniqueName("crashes") + ".")
            func startWorker(_ generation: Int) async throws -> WalinkProcess {
                let process = try WalinkProcess(
                    ["worker"],
                    environment: [
                        "WALINK_AMQP_URL": broker.url, "WALINK_TOPOLOGY_PREFIX": names.prefix, "WALINK_WORKER_ID": "crash-\(generation)",
                        "WALINK_DIAGNOSTIC_COMMANDS": "1", "WALINK_LOG_LEVEL": "debug",
                        "WALINK_STORE": "sqlite:\(directory.appendingPathComponent("walink.db").path)", "WALINK_STORE_KEY": keyHex,
                    ])
                try #require(await process.line(containing: "AMQP connected") != nil, "worker \(generation) did not connect")
                return process
            }

            var worker = try await startWorker(0)
            var workers = [worker]
            let caller = try TestCaller(names: names, amqp: try broker.configuration())
            let deadLetters = AMQPClient(configuration: try broker.configuration(), consumers: [AMQPConsumerSpec(queue: names.deadQueue)])
            try await withRunningClient(deadLetters) { _, dead in
                let ids = (0..<10).map { "held-\($0)" }
                for id in ids { try await caller.send("diag.sleep", body: Array("{\"ms\":60000}".utf8), correlationID: id) }

                let kills = WalinkTopology.defaultDeliveryLimit + 1
                for generation in 1...kills {
                    // Every command started by this process, none answered: each kill returns all of them.
                    let started = await worker.log.wait(timeout: .seconds(120)) { lines in
                        ids.allSatisfy { id in lines.contains { $0.text.contains("Command started") && $0.text.contains(id) } }
                    }
                    try #require(started != nil, "worker \(generation - 1) did not start every command")
                    try #require(caller.replies.items.isEmpty, "answered before the kill: the sleep is too short for this machine")
                    kill(worker.processIdentifier, SIGKILL)
                    _ = await worker.exits.wait(count: 1)
                    worker = try await startWorker(generation)
                    workers.append(worker)
                }

                let replies = await caller.replies.wait(timeout: .seconds(240)) { items in
                    Set(ids).isSubset(of: Set(items.compactMap(\.properties.correlationID)))
                }
                #expect(replies != nil, "answered: \(caller.replies.items.compactMap(\.properties.correlationID).sorted())")
                #expect(caller.replies.items.allSatisfy { $0.properties.headers?["status"]?.intValue == 200 })
                // The queue alone would have dead-lettered them: a worker re-published them on the way.
                #expect(workers.contains { $0.log.items.contains { $0.text.contains("Command re-published near the delivery limit") } })
                // A dead letter would have come at a kill, a minute or more ago.
                #expect(dead.items.isEmpty, "dead-lettered: \(dead.items.compactMap(\.properties.correlationID).sorted())")
            }
            _ = await worker.terminate()
            await caller.close()
        }
    }
}
