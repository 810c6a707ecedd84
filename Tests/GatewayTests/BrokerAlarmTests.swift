import AMQP
import Foundation
import Gateway
import Logging
import NIOPosix
import Store
import Testing
import WalinkTestSupport
import WhatsAppProtocol
import WhatsAppSimulator

/// A broker that blocks publishers (a memory alarm) must not stall any pairing: links hand their
/// events to an outbox, so keepalives and QR rotation go on while the events wait.
///
/// The worker is the real `walink worker` in a process of its own, as in production, so that the
/// rest of the suite running in the test process cannot hold its threads up; the simulator, the
/// caller and the event listener run here.
@Suite(.serialized, .timeLimit(.minutes(10))) struct BrokerAlarmTests {
    static let sessions = 100
    static let keepAlive: ClosedRange<Duration> = .seconds(2) ... .seconds(3)
    static let alarm: Duration = .seconds(20)
    static let nextQR: Duration = .seconds(4)

    @Test func aMemoryAlarmStallsNoPairingAndHeldEventsGoOutInOrder() async throws {
        try await PrivateBroker.with(port: 5694) { broker in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("walink-alarm-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }

            // Enough codes that no link runs out of them during the test (6 s + 19 × 4 s), short enough
            // that each rotates several times during the alarm.
            var simulatorLogger = Logger(label: "walink.test-simulator")
            simulatorLogger.logLevel = .warning
            let simulator = try Simulator(
                configuration: SimulatorConfiguration(
                    tls: .generated(caFilePath: directory.appendingPathComponent("sim-ca.pem").path),
                    refsCount: 20, firstRefLifetime: .seconds(6), laterRefLifetime: Self.nextQR,
                    // Far beyond what a hundred handshakes on a busy machine take.
                    handshakeTimeout: .seconds(600), phoneReplyTimeout: .seconds(600)
                ),
                eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: simulatorLogger
            )
            let endpoints = try await simulator.start()
            let keyHex = Hex.encode((0..<32).map { _ in UInt8.random(in: .min ... .max) })
            let databasePath = directory.appendingPathComponent("walink.db").path
            let store = try await SQLiteStore.open(path: databasePath, key: .key(try StoreKey(parsing: keyHex)))
            let apiKey = try await store.createAPIKey(organization: "acme", name: nil, permissions: ["manage"]).key

            let names = WalinkNames(prefix: TestBroker.uniqueName("alarm") + ".")
            let worker = try WalinkProcess(
                ["worker"],
                environment: [
                    "WALINK_AMQP_URL": broker.url + "?heartbeat=30", "WALINK_TOPOLOGY_PREFIX": names.prefix, "WALINK_WORKER_ID": "alarm",
                    "WALINK_STORE": "sqlite:\(databasePath)", "WALINK_STORE_KEY": keyHex, "WALINK_LOG_LEVEL": "info",
                    "WALINK_WA_URL": endpoints.webSocketURL, "WALINK_WA_CA_FILE": endpoints.caFilePath ?? "",
                    "WALINK_WA_ROOT_KEY": simulator.rootPublicKeyHex, "WALINK_QR_FIRST_SECONDS": "6", "WALINK_QR_NEXT_SECONDS": "4",
                    "WALINK_KEEPALIVE_SECONDS": "2-3", "WALINK_DRAIN_SECONDS": "0",
                ])
            let amqp = try broker.configuration(heartbeat: 30)
            let caller = try TestCaller(names: names, amqp: amqp)
            let (listener, events) = try await Self.listen(names: names, amqp: amqp)

            // The worker has declared its topology and consumes once it logs the connection.
            let connected = await worker.line(containing: "AMQP connected")
            try #require(connected != nil, "the worker did not connect: \(worker.log.items.suffix(20).map(\.text))")
            let sessions = (0..<Self.sessions).map { "alarm-\($0)" }
            let headers: AMQPTable = ["authorization": .string("Bearer \(apiKey)")]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for session in sessions {
                    group.addTask {
                        let body = #"{"session":"\#(session)"}"#
                        let created = try await caller.call("session.create", json: body, headers: headers)
                        #expect(created.status == 201)
                        let started = try await caller.call("session.qr", json: body, headers: headers)
                        #expect(started.status == 404)
                    }
                }
                try await group.waitForAll()
            }
            // Every link shows its first code before the alarm.
            let allShowing = await events.wait(timeout: .seconds(180)) { events in
                Set(events.compactMap { $0.qrEvent?.session }).count == Self.sessions
            }
            try #require(allShowing != nil, "not every session showed a QR code")
            let seqBefore = Self.lastSeq(events.items)

            let alarmStart = ContinuousClock.now
            try await broker.control(["set_vm_memory_high_watermark", "0.000001"])
            // The alarm lasts this long: it is the scenario, not a wait for something to happen.
            try await Task.sleep(for: Self.alarm)
            let arrivedBeforeTheEnd = events.items.count
            let alarmEndDate = Date()
            try await broker.control(["set_vm_memory_high_watermark", "0.4"])
            let alarmEnd = ContinuousClock.now
            // Events the worker wrote before the broker's block reached it sit unread in the socket and
            // get their broker TTL only once read, after the alarm: those cannot be held back. From the
            // block on the worker holds events itself.
            let blocked = await worker.line(containing: "AMQP connection blocked", timeout: .seconds(10))
            #expect(blocked != nil, "the broker never blocked the worker's connection")

            // Keepalives went on, on every link's connection, with no gap over two intervals.
            let twoIntervals = Self.keepAlive.upperBound * 2
            var coveredConnections = 0
            for (connection, pings) in Dictionary(grouping: simulator.keepalives, by: \.connection) {
                // The links' registration connections, all open since before the alarm (every link showed
                // a code by then, and none ended since): the first ping comes within an interval of it.
                let during = pings.map(\.received).filter { $0 >= alarmStart && $0 <= alarmEnd }.sorted()
                guard !during.isEmpty else { continue }
                coveredConnections += 1
                let points = [alarmStart] + during + [alarmEnd]
                let gaps = zip(points, points.dropFirst()).map { $1 - $0 }
                #expect(gaps.allSatisfy { $0 <= twoIntervals }, "connection \(connection): keepalive gap \(gaps.max() ?? .zero)")
            }
            #expect(coveredConnections == Self.sessions, "\(coveredConnections) connections pinged across the whole alarm")

            // Afterwards the held events go out: every link rotated its codes meanwhile (its newest
            // code is several sequence numbers on), and each session's codes arrive in order.
            let rotations = Int(Self.alarm / Self.nextQR) - 1
            let caughtUp = await events.wait(timeout: .seconds(120)) { events in
                let seqNow = Self.lastSeq(events)
                return sessions.allSatisfy { (seqNow[$0] ?? 0) >= (seqBefore[$0] ?? 0) + rotations }
            }
            #expect(caughtUp != nil, "not every session's newest code arrived after the alarm")
            let all = events.items
            for session in sessions {
                let seqs = all.compactMap(\.qrEvent).filter { $0.session == session }.map(\.seq)
                #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count, "\(session): codes out of order \(seqs)")
                // Codes that expired while held were dropped, not delivered late.
                #expect(seqs.count < seqs.last ?? 0, "\(session): no code was dropped although the alarm outlived several")
            }
            // The companions saw the answers: no link gave up on an unanswered keepalive.
            #expect(!all.contains { $0.objectValue?["type"] == "auth.failed" })
            // What the worker held arrived once the alarm ended: none of it may be a code that had
            // expired by then.
            let held = all[arrivedBeforeTheEnd...].compactMap(\.qrEvent).filter { $0.sent > (blocked?.arrived ?? .distantFuture) }
            #expect(!held.isEmpty, "no event was held during the alarm")
            let stale = held.filter { $0.expiresAt < alarmEndDate.addingTimeInterval(-1) }
            #expect(stale.isEmpty, "codes delivered after their expiry: \(stale.count)")

            #expect(await worker.terminate() == 0)
            await caller.close()
            await listener.shutdown()
            await simulator.stop()
            await store.close()
        }
    }

    /// A listener on the deployment's events exchange and what it collected.
    static func listen(names: WalinkNames, amqp: AMQPConfiguration) async throws -> (AMQPClient, Collector<JSONValue>) {
        let queue = TestBroker.uniqueName("alarm-events")
        let listener = AMQPClient(
            configuration: amqp,
            topology: AMQPTopology(
                exchanges: [AMQPTopology.Exchange(name: names.eventsExchange, type: "topic")],
                queues: [AMQPTopology.Queue(name: queue, durable: false, exclusive: true, autoDelete: true)],
                bindings: [AMQPTopology.Binding(queue: queue, exchange: names.eventsExchange, routingKey: "#")]
            ),
            consumers: [AMQPConsumerSpec(queue: queue, noAck: true)]
        )
        let events = Collector<JSONValue>()
        Task { try await listener.run() }
        Task {
            for await delivery in listener.deliveries {
                if let event = try? JSONParser.parse(delivery.body) { events.append(event) }
            }
        }
        try await listener.waitUntilConnected()
        return (listener, events)
    }

    /// The highest `auth.qr` sequence number seen per session.
    static func lastSeq(_ events: [JSONValue]) -> [String: Int] {
        var last: [String: Int] = [:]
        for qr in events.compactMap(\.qrEvent) { last[qr.session] = max(last[qr.session] ?? 0, qr.seq) }
        return last
    }
}

extension JSONValue {
    /// An `auth.qr` event's session, sequence number, expiry, and when the worker handed it to the
    /// broker connection (the event's `time`).
    fileprivate var qrEvent: (session: String, seq: Int, expiresAt: Date, sent: Date)? {
        guard let object = objectValue, object["type"] == "auth.qr", let session = object["session"]?.stringValue,
            let data = object["data"]?.objectValue, case .int(let seq)? = data["seq"],
            let expires = data["expiresAt"]?.stringValue.flatMap(Self.timestamp), let sent = object["time"]?.stringValue.flatMap(Self.timestamp)
        else { return nil }
        return (session, Int(seq), expires, sent)
    }

    private static func timestamp(_ text: String) -> Date? {
        try? Date(text, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true))
    }
}
