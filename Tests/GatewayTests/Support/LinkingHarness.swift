import AMQP
import Auth
import Foundation
import Gateway
import Logging
import NIOPosix
import Store
import WalinkTestSupport
import WhatsAppLink
import WhatsAppProtocol
import WhatsAppSimulator

/// The whole linking path: a WhatsApp simulator (TLS, its own root key), a worker with a real
/// SQLite store and API keys, a caller, and a listener on the worker's events exchange.
struct LinkingHarness {
    let simulator: Simulator
    let worker: TestWorker
    let caller: TestCaller
    let store: any WalinkStore
    let events: Collector<JSONValue>
    let listener: AMQPClient
    let listenerTask: Task<Void, any Error>
    let collectTask: Task<Void, Never>
    let key: String
    let directory: URL

    struct Timing {
        var firstQR: Duration = .seconds(30)
        var nextQR: Duration = .seconds(10)
        var refs = 6
        var pairingCode: Duration = .seconds(60)
        /// The link's keepalive interval (nil: the default, 20-30 s).
        var keepAlive: ClosedRange<Duration>? = nil
        /// The worker lease.
        var lease: Duration = .seconds(30)
        /// How long pairings may finish on graceful shutdown (none by default: stopping a test's
        /// worker stops its pairings at once).
        var drain: Duration = .zero
    }

    static func start(
        timing: Timing = Timing(), workerID: String = "linker", names: WalinkNames? = nil, maxLinks: Int = 1000, logger: Logger? = nil,
        amqp explicitAMQP: AMQPConfiguration? = nil, wrapStore: (any WalinkStore) -> any WalinkStore = { $0 }
    ) async throws -> LinkingHarness {
        let amqp = try explicitAMQP ?? TestBroker.configuration()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("walink-linking-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var simulatorLogger = Logger(label: "walink.test-simulator")
        simulatorLogger.logLevel = .warning
        let simulator = try Simulator(
            configuration: SimulatorConfiguration(
                tls: .generated(caFilePath: directory.appendingPathComponent("sim-ca.pem").path),
                refsCount: timing.refs, firstRefLifetime: timing.firstQR, laterRefLifetime: timing.nextQR,
                // The server's own deadlines far beyond what a busy machine needs (no test here is about them).
                handshakeTimeout: .seconds(600), phoneReplyTimeout: .seconds(600)
            ),
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: simulatorLogger
        )
        let endpoints = try await simulator.start()
        let store = wrapStore(
            try await SQLiteStore.open(
                path: directory.appendingPathComponent("walink.db").path, key: .key(.random()), logger: logger ?? Logger(label: "walink.store")
            ))
        let key = try await store.createAPIKey(organization: "acme", name: "tests", permissions: ["manage"]).key
        let callers = try CallerAuthenticator(
            configuration: AuthConfiguration(), apiKeys: StoreAPIKeyResolver(store: store), logger: logger ?? Logger(label: "walink.auth")
        )
        let linking = try linkingConfiguration(endpoints, timing: timing, maxLinks: maxLinks)
        let worker = try await TestWorker.start(
            store: store, linking: linking, authenticator: GatewayAuthenticator(callers: callers), amqp: amqp, names: names, logger: logger,
            configure: { $0.workerID = workerID }
        )
        let caller = try TestCaller(names: worker.names, amqp: amqp)

        let queue = TestBroker.uniqueName("events")
        let listener = AMQPClient(
            configuration: amqp,
            topology: AMQPTopology(
                exchanges: [AMQPTopology.Exchange(name: worker.names.eventsExchange, type: "topic")],
                queues: [AMQPTopology.Queue(name: queue, durable: false, exclusive: true, autoDelete: true)],
                bindings: [AMQPTopology.Binding(queue: queue, exchange: worker.names.eventsExchange, routingKey: "#")]
            ),
            consumers: [AMQPConsumerSpec(queue: queue, noAck: true)]
        )
        let events = Collector<JSONValue>()
        let listenerTask = Task { try await listener.run() }
        let collectTask = Task {
            for await delivery in listener.deliveries {
                if let event = try? JSONParser.parse(delivery.body) { events.append(event) }
            }
        }
        try await listener.waitUntilConnected()
        return LinkingHarness(
            simulator: simulator, worker: worker, caller: caller, store: store, events: events, listener: listener,
            listenerTask: listenerTask, collectTask: collectTask, key: key, directory: directory
        )
    }

    static func linkingConfiguration(_ endpoints: SimulatorEndpoints, timing: Timing, maxLinks: Int = 1000) throws -> LinkManager.Configuration {
        var link = LinkConfiguration(
            url: URL(string: endpoints.webSocketURL)!, extraCAFile: endpoints.caFilePath,
            rootPublicKey: Hex.decode(endpoints.rootPublicKeyHex) ?? []
        )
        link.firstQRLifetime = timing.firstQR
        link.nextQRLifetime = timing.nextQR
        link.pairingCodeLifetime = timing.pairingCode
        if let keepAlive = timing.keepAlive { link.keepAliveInterval = keepAlive }
        return LinkManager.Configuration(link: link, leaseDuration: timing.lease, maximumConcurrentLinks: maxLinks, drainDuration: timing.drain)
    }

    func stop() async {
        await caller.close()
        await worker.stop()
        await listener.shutdown()
        _ = try? await listenerTask.value
        await collectTask.value
        await simulator.stop()
        await store.close()
        try? FileManager.default.removeItem(at: directory)
    }

    func call(_ command: String, _ body: JSONValue) async throws -> TestCaller.Reply {
        try await caller.call(command, json: body.text, headers: ["authorization": .string("Bearer \(key)")])
    }

    func createSession(_ id: String) async throws {
        let reply = try await call("session.create", ["session": .string(id)])
        guard reply.status == 201 else { throw BrokerControlError(message: "session.create answered \(reply.status)") }
    }

    /// The first event of `type` for `session` (optionally matching `where`), waiting up to `timeout`.
    func event(
        _ type: String, session: String, timeout: Duration = .seconds(60), where predicate: @escaping @Sendable (JSONObject) -> Bool = { _ in true }
    ) async -> JSONObject? {
        let matches: @Sendable (JSONValue) -> Bool = { event in
            guard let object = event.objectValue, object["type"] == .string(type), object["session"] == .string(session) else { return false }
            return predicate(object)
        }
        return await events.wait(timeout: timeout) { $0.contains(where: matches) }?.first(where: matches)?.objectValue
    }

    /// The QR string of the `sequence`-th auth.qr event of `session`.
    func qr(_ session: String, sequence: Int = 1) async -> String? {
        await event("auth.qr", session: session) { $0["data"]?.objectValue?["seq"] == .int(Int64(sequence)) }?["data"]?.objectValue?["qr"]?
            .stringValue
    }
}
