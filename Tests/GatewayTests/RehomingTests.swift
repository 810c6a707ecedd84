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

#if canImport(Glibc)
import Glibc
#endif

/// Two `walink worker` processes share a store; the one holding a live pairing is killed with
/// SIGKILL (no goodbye, its lease and queue left behind). The next command for the session is
/// answered by the survivor within a lease and five seconds, and a new pairing starts there.
@Suite(.timeLimit(.minutes(5))) struct RehomingTests {
    static let lease = 10

    @Test func aSessionOfAKilledWorkerIsTakenOverWithinTheLease() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("walink-rehome-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var simulatorLogger = Logger(label: "walink.test-simulator")
        simulatorLogger.logLevel = .warning
        let simulator = try Simulator(
            configuration: SimulatorConfiguration(
                tls: .generated(caFilePath: directory.appendingPathComponent("sim-ca.pem").path),
                handshakeTimeout: .seconds(600), phoneReplyTimeout: .seconds(600)),
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: simulatorLogger)
        let endpoints = try await simulator.start()
        let keyHex = Hex.encode((0..<32).map { _ in UInt8.random(in: .min ... .max) })
        let databasePath = directory.appendingPathComponent("walink.db").path
        let store = try await SQLiteStore.open(path: databasePath, key: .key(try StoreKey(parsing: keyHex)))
        let apiKey = try await store.createAPIKey(organization: "acme", name: nil, permissions: ["manage"]).key
        let amqp = try TestBroker.configuration()
        let names = WalinkNames(prefix: TestBroker.uniqueName("rehome") + ".")

        func startWorker(_ id: String) throws -> WalinkProcess {
            try WalinkProcess(
                ["worker"],
                environment: [
                    "WALINK_AMQP_URL": TestBroker.url, "WALINK_TOPOLOGY_PREFIX": names.prefix, "WALINK_WORKER_ID": id,
                    "WALINK_STORE": "sqlite:\(databasePath)", "WALINK_STORE_KEY": keyHex, "WALINK_LOG_LEVEL": "info",
                    "WALINK_WA_URL": endpoints.webSocketURL, "WALINK_WA_CA_FILE": endpoints.caFilePath ?? "",
                    "WALINK_WA_ROOT_KEY": simulator.rootPublicKeyHex, "WALINK_LEASE_SECONDS": "\(Self.lease)",
                    // SIGTERM at the end stops the survivor's pairing at once.
                    "WALINK_DRAIN_SECONDS": "0",
                ])
        }
        let workers = ["one": try startWorker("one"), "two": try startWorker("two")]
        for (id, worker) in workers {
            let connected = await worker.line(containing: "AMQP connected")
            try #require(connected != nil, "worker \(id) did not connect")
        }
        let caller = try TestCaller(names: names, amqp: amqp)
        let headers: AMQPTable = ["authorization": .string("Bearer \(apiKey)")]
        let body = #"{"session":"moving"}"#
        #expect(try await caller.call("session.create", json: body, headers: headers).status == 201)
        #expect(try await caller.call("session.qr", json: body, headers: headers).status == 404)
        let owner = try #require(try await store.sessionOwner(organization: "acme", session: "moving")?.owner.worker)
        let (dead, survivor) = owner == "one" ? ("one", "two") : ("two", "one")

        let dying = try #require(workers[dead])
        kill(dying.processIdentifier, SIGKILL)
        _ = await dying.exits.wait(count: 1)
        let killed = ContinuousClock.now
        // The survivor either finds the lease still held (and forwards into the dead worker's queue,
        // whence the command expires back a lease later) or already lapsed; both end with it starting
        // the pairing. One call, with a timeout far beyond the bound, so a slow answer is measured.
        let sent = try await caller.send("session.qr", body: Array(body.utf8), headers: headers)
        let answer = try await caller.reply(to: sent, timeout: .seconds(120))
        let took = ContinuousClock.now - killed
        #expect(answer.status == 404 || answer.status == 200, "answered \(answer.status): \(answer.body)")
        #expect(took < .seconds(Self.lease + 5), "took \(took)")
        #expect(try await store.sessionOwner(organization: "acme", session: "moving")?.owner.worker == survivor)

        _ = await workers[survivor]?.terminate()
        await caller.close()
        await store.close()
        await simulator.stop()
    }
}
