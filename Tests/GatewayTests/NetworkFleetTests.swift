import AMQP
import Foundation
import Gateway
import Logging
import NIOPosix
import Store
import StoreFactory
import Synchronization
import Testing
import WalinkTestSupport
import WhatsAppProtocol
import WhatsAppSimulator

#if canImport(Glibc)
import Glibc
#endif

/// A fleet of three `walink worker` processes, each a host of its own in a network namespace the
/// test creates (`scripts/netns-fleet`), sharing a private PostgreSQL (port 5686) and a private
/// 3-node RabbitMQ cluster (ports 5731–5733), both listening on the test's services address
/// 10.231.0.1, with the simulator there as WhatsApp. While pairings run, one worker is SIGKILLed,
/// another is cut from the database by nftables in its namespace and healed, and PostgreSQL is
/// stopped and started again. Then every session is paired through whichever worker links it.
///
/// It checks, from the simulator's record of every WhatsApp connection, that a session never had
/// two live connections (the last frame of each connection arrived before the first frame of the
/// session's next one); that every pairing ended paired and every `auth.failed` on the way carried
/// a documented reason; and that every command (each with a `message_id`, re-sent with the same id
/// when no answer came or the answer was 503) was answered.
@Suite(.timeLimit(.minutes(20))) struct NetworkFleetTests {
    static let lease = 20
    static let postgresPort = 5686
    static let clusterPort = 5731
    static let workers = 3
    static let sessions = (0..<12).map { "net\($0)" }
    /// `auth.failed` reasons the README documents.
    static let documentedReasons: Set<String> = [
        "certificate_invalid", "handshake_failed", "hmac_mismatch", "signature_mismatch", "server_error", "login_failed",
        "connection_lost", "timeout", "storage_failed", "worker_stopped", "session_deleted", "lease_lost",
    ]

    @Test func workersOnTheirOwnHostsKeepOneConnectionPerSessionThroughAKillAPartitionAndADatabaseRestart() async throws {
        let started = ContinuousClock.now
        try await NetworkFleet.with(count: Self.workers) { network in
            let services = NetworkFleet.servicesAddress
            let postgres = PrivatePostgres(port: Self.postgresPort, listen: [services], clients: NetworkFleet.network)
            try await postgres.with { postgres in
                try await PrivateCluster.with(basePort: Self.clusterPort, listen: [services]) { cluster in
                    try await Self.scenario(network: network, postgres: postgres, cluster: cluster)
                }
            }
        }
        print("NetworkFleetTests: whole test \(ContinuousClock.now - started)")
    }

    static func scenario(network: NetworkFleet, postgres: PrivatePostgres, cluster: PrivateCluster) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("walink-netfleet-\(network.run)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let services = NetworkFleet.servicesAddress

        var simulatorLogger = Logger(label: "walink.test-simulator")
        simulatorLogger.logLevel = .warning
        let simulator = try Simulator(
            configuration: SimulatorConfiguration(
                host: services, tls: .generated(caFilePath: directory.appendingPathComponent("sim-ca.pem").path),
                // Codes outlast the whole test (60 s + 63 × 20 s): no pairing times out while the faults run.
                refsCount: 64, handshakeTimeout: .seconds(600), phoneReplyTimeout: .seconds(600)),
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: simulatorLogger)
        let endpoints = try await simulator.start()
        defer { Task { await simulator.stop() } }

        let keyHex = Hex.encode((0..<32).map { _ in UInt8.random(in: .min ... .max) })
        let storeEnvironment = ["WALINK_STORE": postgres.url(), "WALINK_STORE_KEY": keyHex, "WALINK_STORE_TIMEOUT": "3"]
        let created = try await runWalink(["apikey", "create", "--org", "acme", "--perm", "manage"], environment: storeEnvironment)
        try #require(created.status == 0, "apikey create: \(created.output)")
        let apiKey = try #require(created.output.split(separator: "\n").last { $0.hasPrefix("wlk_") }.map(String.init))
        // The test's own view of the store (owners), over loopback.
        let store = try await StoreFactory.open(try StoreConfiguration(environment: storeEnvironment))

        let names = WalinkNames(prefix: TestBroker.uniqueName("netfleet") + ".")
        func startWorker(_ n: Int) throws -> WalinkProcess {
            try WalinkProcess(
                ["worker"],
                environment: [
                    "WALINK_AMQP_URL": cluster.url(host: services), "WALINK_TOPOLOGY_PREFIX": names.prefix, "WALINK_WORKER_ID": "w\(n)",
                    "WALINK_STORE": postgres.url(host: services), "WALINK_STORE_KEY": keyHex, "WALINK_STORE_TIMEOUT": "3",
                    "WALINK_LOG_LEVEL": "info", "WALINK_WA_URL": endpoints.webSocketURL, "WALINK_WA_CA_FILE": endpoints.caFilePath ?? "",
                    "WALINK_WA_ROOT_KEY": simulator.rootPublicKeyHex, "WALINK_LEASE_SECONDS": "\(lease)", "WALINK_DRAIN_SECONDS": "0",
                ],
                namespace: network.namespace(n))
        }
        var workers: [Int: WalinkProcess] = [:]
        for n in 1...Self.workers { workers[n] = try startWorker(n) }
        for (n, worker) in workers {
            let connected = await worker.line(containing: "AMQP connected", timeout: .seconds(300))
            try #require(connected != nil, "worker w\(n) did not connect from its namespace")
        }

        let amqp = try cluster.configuration()
        let caller = try TestCaller(names: names, amqp: amqp)
        let events = try await EventListener.start(names: names, amqp: amqp)
        let commands = CommandLedger(caller: caller, apiKey: apiKey)
        let ready = ContinuousClock.now

        // Pairings running on every worker, each showing its first code.
        for session in sessions {
            let answer = try await commands.run("session.create", ["session": .string(session)])
            #expect(answer.status == 201, "session.create \(session): \(answer.status) \(answer.body)")
            let pairing = try await commands.run("session.qr", ["session": .string(session)])
            #expect(pairing.status == 404, "session.qr \(session): \(pairing.status) \(pairing.body)")
        }
        for session in sessions {
            try #require(await events.event("auth.qr", session: session, timeout: .seconds(300)) != nil, "no code for \(session)")
        }
        func owner(_ session: String) async throws -> Int? {
            guard let worker = try await store.sessionOwner(organization: "acme", session: session)?.owner.worker else { return nil }
            return Int(worker.dropFirst())
        }
        func qrCount(_ session: String) -> Int { events.all("auth.qr", session: session).count }

        // 1. A worker killed mid-pairing (its codes shown, none scanned): no goodbye, its sockets
        // closed by the kernel, its lease left to run out. Its sessions' callers ask for their codes
        // again: the commands wait in the dead worker's queue until their forward expires, and a
        // survivor starts the pairings anew once the lease has lapsed. Then the host comes back.
        let victim = try #require(try await owner(sessions[0]))
        var victimSessions: [String] = []
        for session in sessions {
            if try await owner(session) == victim { victimSessions.append(session) }
        }
        let codesBefore = Dictionary(uniqueKeysWithValues: victimSessions.map { ($0, qrCount($0)) })
        let killed = try #require(workers[victim])
        kill(killed.processIdentifier, SIGKILL)
        #expect(await killed.exits.wait(count: 1, timeout: .seconds(120)) != nil)
        let answers = try await withThrowingTaskGroup(of: (String, CommandLedger.Answer).self) { group in
            for session in victimSessions {
                group.addTask { (session, try await commands.run("session.qr", ["session": .string(session)])) }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        for session in victimSessions {
            let answer = try #require(answers[session])
            #expect(answer.status == 404, "after the kill, session.qr \(session): \(answer.status) \(answer.body)")
            let restarted = await events.count("auth.qr", session: session, atLeast: (codesBefore[session] ?? 0) + 1, timeout: .seconds(300))
            #expect(restarted, "no new code for \(session)")
            let now = try await owner(session)
            #expect(now != nil && now != victim, "\(session) is owned by w\(now ?? 0) after the kill")
        }
        workers[victim] = try startWorker(victim)
        #expect(await workers[victim]?.line(containing: "AMQP connected", timeout: .seconds(300)) != nil)
        let afterKill = ContinuousClock.now

        // 2. A worker cut from the database (nftables in its namespace drops everything to the
        // PostgreSQL port, open connections included) while it links sessions: it stops them at
        // its own deadline (`auth.failed`, a documented reason), before the store frees them.
        var partitioned: Int?
        for session in sessions {
            if let n = try await owner(session), n != victim {
                partitioned = n
                break
            }
        }
        if partitioned == nil { partitioned = try await owner(sessions[0]) }
        let cut = try #require(partitioned)
        var cutSessions: [String] = []
        for session in sessions {
            if try await owner(session) == cut { cutSessions.append(session) }
        }
        let failedBefore = Dictionary(uniqueKeysWithValues: cutSessions.map { ($0, events.all("auth.failed", session: $0).count) })
        try await network.partition(cut, port: Self.postgresPort)
        // Commands meanwhile: those the cut worker takes answer 503 after the store timeout and are sent again.
        async let duringPartition: Void = commands.runAll(sessions.map { ("session.get", ["session": .string($0)]) })
        for session in cutSessions {
            let ended = await events.count("auth.failed", session: session, atLeast: (failedBefore[session] ?? 0) + 1, timeout: .seconds(300))
            #expect(ended, "the cut worker did not stop \(session)")
        }
        try await network.heal(cut)
        try await duringPartition
        for session in cutSessions {
            let before = qrCount(session)
            let answer = try await commands.run("session.qr", ["session": .string(session)])
            #expect(answer.status == 404 || answer.status == 200, "after the partition, session.qr \(session): \(answer.status) \(answer.body)")
            if answer.status == 404 {
                #expect(await events.count("auth.qr", session: session, atLeast: before + 1, timeout: .seconds(300)), "no new code for \(session)")
            }
        }
        let afterPartition = ContinuousClock.now

        // 3. PostgreSQL stopped under the fleet, and started again once a command was answered 503
        // for it (the outage seen); the commands sent meanwhile are answered once it is back.
        let unavailableBefore = commands.unavailableAnswers
        try await postgres.stopServer()
        async let duringRestart: Void = commands.runAll(sessions.map { ("session.get", ["session": .string($0)]) })
        let seen = await commands.waitForUnavailable(moreThan: unavailableBefore, timeout: .seconds(300))
        #expect(seen, "no command was answered 503 while PostgreSQL was down")
        try await postgres.startServer()
        try await duringRestart
        let afterRestart = ContinuousClock.now

        // 4. Every session paired: a phone scans the session's current code, or for every third
        // session types the pairing code its running pairing asked WhatsApp for.
        for (index, session) in sessions.enumerated() {
            let phone = "1555000\(String(format: "%04d", index))"
            let paired = try await Self.pair(
                session, phone: phone, byCode: index % 3 == 2, commands: commands, events: events, simulator: simulator)
            #expect(paired, "\(session) did not pair")
        }
        for session in sessions {
            let answer = try await commands.run("session.get", ["session": .string(session)])
            #expect(answer.body.objectValue?["status"] == "paired", "\(session): \(answer.body)")
        }
        let devices = simulator.pairedDevices
        #expect(devices.count == sessions.count)
        #expect(devices.filter { $0.method == .code }.count == sessions.count / 3)
        let afterPairing = ContinuousClock.now

        for (n, worker) in workers {
            #expect(await worker.terminate() != nil, "worker w\(n) did not stop")
        }
        await events.stop()
        await caller.close()
        await store.close()

        // Every pairing (one companion key, the codes it showed) ended: paired, or failed with a
        // documented reason, or timed out — but those the killed worker ran, which ended with it.
        let pairings = PairingAudit(events.events.items, documentedReasons: Self.documentedReasons)
        #expect(pairings.undocumented.isEmpty, "undocumented auth.failed: \(pairings.undocumented)")
        #expect(pairings.unfinished.isEmpty, "pairings that never ended: \(pairings.unfinished)")
        #expect(Set(pairings.endedSilently) == Set(victimSessions), "ended without an event: \(pairings.endedSilently)")
        #expect(Set(pairings.paired) == Set(sessions) && pairings.paired.count == sessions.count, "paired: \(pairings.paired)")
        // No command lost.
        #expect(commands.lost.isEmpty, "unanswered: \(commands.lost)")

        // Never two live connections for one session. A connection belongs to the session whose
        // code carried its Noise key (the same key logs in after pairing).
        var sessionOfKey: [String: String] = [:]
        for event in events.all("auth.qr") {
            guard let session = event["session"]?.stringValue, let qr = event["data"]?.objectValue?["qr"]?.stringValue,
                let key = Self.noiseKey(ofQR: qr)
            else { continue }
            sessionOfKey[key] = session
        }
        let connections = simulator.connections
        let audit = ConnectionAudit(connections, sessionOfKey: sessionOfKey)
        #expect(audit.unknown.isEmpty, "connections whose Noise key no code carried: \(audit.unknown.map(\.id))")
        #expect(audit.overlaps.isEmpty, "two live connections: \(audit.overlaps)")
        // Every connection came from a worker's own host, and the killed worker's from its address.
        let hosts = Set((1...Self.workers).map { "10.231.\($0).2" })
        #expect(connections.allSatisfy { $0.peer.map(hosts.contains) ?? false }, "peers: \(Set(connections.compactMap(\.peer)))")
        let victimPeers = Set(victimSessions.flatMap { audit.bySession[$0] ?? [] }.compactMap(\.peer))
        #expect(victimPeers.contains("10.231.\(victim).2"), "the killed worker's sessions came from \(victimPeers)")
        #expect(Set(audit.bySession.keys) == Set(sessions))
        print(
            """
            NetworkFleetTests: \(connections.count) connections (\(audit.anonymous) never finished a handshake), \
            \(audit.handovers) from one connection of a session to its next (the smallest gap \(Double(audit.smallestGap) / 1e6) ms; \
            \(audit.closedAfterNextBegan) closed only after the next began), \
            \(commands.sent) commands (\(commands.resent) re-sent, \(commands.unavailableAnswers) answered 503 first), \
            killed w\(victim) (\(victimSessions.count) pairings), cut w\(cut) (\(cutSessions.count)), \
            failures \(pairings.failed.values.flatMap { $0 }.sorted()); \
            phases: kill \(afterKill - ready), partition \(afterPartition - afterKill), \
            database restart \(afterRestart - afterPartition), pairing \(afterPairing - afterRestart)
            """)
    }

    /// The audit itself finds what it is there to find: a connection with a frame after the next
    /// one of its session began, and a connection no code accounts for.
    @Test func theConnectionAuditFindsTwoLiveConnections() throws {
        func connection(_ id: Int, _ key: String?, first: Int, last: Int) throws -> SimulatorConnection {
            var fields = #""id":\#(id),"accepted":\#(first),"firstFrame":\#(first),"lastFrame":\#(last),"frames":2"#
            if let key { fields += #","noiseKey":"\#(key)""# }
            return try JSONDecoder().decode(SimulatorConnection.self, from: Data("{\(fields)}".utf8))
        }
        let keys = ["aa": "one", "bb": "one", "cc": "two"]
        let clean = ConnectionAudit(
            [
                try connection(1, "aa", first: 10, last: 20), try connection(2, "bb", first: 21, last: 30),
                try connection(3, "cc", first: 15, last: 40),
            ],
            sessionOfKey: keys)
        #expect(clean.overlaps.isEmpty && clean.unknown.isEmpty)
        #expect(clean.handovers == 1 && clean.smallestGap == 1)
        let overlapping = ConnectionAudit(
            [
                try connection(1, "aa", first: 10, last: 25), try connection(2, "bb", first: 21, last: 30),
                try connection(3, "dd", first: 1, last: 2),
                try connection(4, nil, first: 1, last: 1),
            ],
            sessionOfKey: keys)
        #expect(overlapping.overlaps.count == 1)
        #expect(overlapping.unknown.map(\.id) == [3])
        #expect(overlapping.anonymous == 1)
    }

    /// The pairing audit: a pairing ends paired, failed (reason checked), or silently when another
    /// begins; one left open is unfinished.
    @Test func thePairingAuditFollowsEachSessionsPairings() {
        func qr(_ key: UInt8) -> String {
            "https://wa.me/settings/linked_devices#ref," + Data([UInt8](repeating: key, count: 32)).base64EncodedString() + ",id,adv"
        }
        func event(_ type: String, _ session: String, _ data: JSONObject = [:]) -> JSONObject {
            ["type": .string(type), "session": .string(session), "data": .object(data)]
        }
        let events = [
            event("auth.qr", "a", ["qr": .string(qr(1))]), event("auth.qr", "b", ["qr": .string(qr(2))]),
            event("auth.qr", "a", ["qr": .string(qr(1))]), event("auth.qr", "a", ["qr": .string(qr(3))]),
            event("auth.failed", "b", ["reason": "lease_lost"]), event("auth.qr", "b", ["qr": .string(qr(4))]),
            event("auth.paired", "a"), event("auth.failed", "c", ["reason": "gremlins"]),
        ]
        let audit = PairingAudit(events, documentedReasons: NetworkFleetTests.documentedReasons)
        #expect(audit.paired == ["a"])
        #expect(audit.endedSilently == ["a"])
        #expect(audit.failed["b"] == ["lease_lost"])
        #expect(audit.undocumented == ["c: gremlins"])
        #expect(audit.unfinished == ["b"])
    }

    /// Pairs `session` with a phone: scans its current code, or (`byCode`) asks the running pairing
    /// for a pairing code and types it on the phone; asks for a new pairing when none runs. A code is
    /// only asked of a running QR pairing, so the connection stays the one whose key its QR carried.
    static func pair(
        _ session: String, phone: String, byCode: Bool, commands: CommandLedger, events: EventListener, simulator: Simulator
    ) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(600)
        while ContinuousClock.now < deadline {
            let codes = events.all("auth.qr", session: session).count
            let answer = try await commands.run("session.qr", ["session": .string(session)])
            switch answer.status {
            case 400:
                return events.all("auth.paired", session: session).isEmpty == false
            case 200 where byCode:
                let code = try await commands.run("session.pairing-code", ["session": .string(session), "phone": .string(phone)])
                guard code.status == 200, let text = code.body.objectValue?["code"]?.stringValue else { continue }
                guard case .paired? = try? await simulator.enterCode(text, phone: phone) else { continue }
                return await events.event("auth.paired", session: session, timeout: .seconds(300)) != nil
            case 200:
                guard let qr = answer.body.objectValue?["qr"]?.stringValue else { return false }
                guard case .paired? = try? await simulator.scan(qr: qr, phone: phone) else { continue }
                return await events.event("auth.paired", session: session, timeout: .seconds(300)) != nil
            case 404:
                _ = await events.count("auth.qr", session: session, atLeast: codes + 1, timeout: .seconds(300))
            default:
                return false
            }
        }
        return false
    }

    /// The companion's Noise public key (hex) in a QR string `…#ref,noise,identity,adv[,platform]`.
    static func noiseKey(ofQR qr: String) -> String? {
        let payload = qr.split(separator: "#", maxSplits: 1).last.map(String.init) ?? qr
        let fields = payload.split(separator: ",", omittingEmptySubsequences: false)
        guard fields.count >= 4, let bytes = Data(base64Encoded: String(fields[1])) else { return nil }
        return Hex.encode(Array(bytes))
    }
}

/// The simulator's connections grouped by session (through the Noise key each session's codes
/// carried), and every place where a connection of a session received a frame after the session's
/// next connection had begun.
struct ConnectionAudit {
    var bySession: [String: [SimulatorConnection]] = [:]
    /// Connections with a Noise key no code carried.
    var unknown: [SimulatorConnection] = []
    /// Connections that never completed a handshake (no key known).
    var anonymous = 0
    var overlaps: [String] = []
    /// Consecutive connections of one session, and the smallest time between the last frame of one
    /// and the first of the next (nanoseconds).
    var handovers = 0
    var smallestGap = UInt64.max
    /// Handovers where the simulator saw the old connection close only after the next one's first
    /// frame (silent by then: reported, not a failure).
    var closedAfterNextBegan = 0

    init(_ connections: [SimulatorConnection], sessionOfKey: [String: String]) {
        for connection in connections {
            guard let key = connection.noiseKey else {
                anonymous += 1
                continue
            }
            guard let session = sessionOfKey[key] else {
                unknown.append(connection)
                continue
            }
            bySession[session, default: []].append(connection)
        }
        for (session, list) in bySession {
            let ordered = list.sorted { ($0.firstFrame ?? 0) < ($1.firstFrame ?? 0) }
            for (old, next) in zip(ordered, ordered.dropFirst()) {
                let oldLast = old.lastFrame ?? 0
                let nextFirst = next.firstFrame ?? 0
                handovers += 1
                if (old.closed ?? .max) > nextFirst { closedAfterNextBegan += 1 }
                if nextFirst > oldLast {
                    smallestGap = min(smallestGap, nextFirst - oldLast)
                } else {
                    overlaps.append("\(session): connection \(old.id) had a frame at \(oldLast) ns, after \(next.id) began at \(nextFirst) ns")
                }
            }
        }
    }
}

/// How each session's pairings ended, from its `auth.*` events in order: a pairing is one companion
/// key (the codes it showed); it ends with `auth.paired`, `auth.failed` or `auth.timeout`, or
/// silently when the next pairing's first code arrives first (its worker died).
struct PairingAudit {
    /// Sessions whose pairing ended paired, once per pairing.
    var paired: [String] = []
    var failed: [String: [String]] = [:]
    var undocumented: [String] = []
    /// Sessions with a pairing that ended without an event, once per such pairing.
    var endedSilently: [String] = []
    /// Sessions whose last pairing never ended.
    var unfinished: [String] = []

    init(_ events: [JSONObject], documentedReasons: Set<String>) {
        var open: [String: String] = [:]
        for event in events {
            guard let session = event["session"]?.stringValue, let type = event["type"]?.stringValue else { continue }
            let data = event["data"]?.objectValue
            switch type {
            case "auth.qr":
                guard let key = data?["qr"]?.stringValue.flatMap(NetworkFleetTests.noiseKey(ofQR:)) else { continue }
                if let current = open[session], current != key { endedSilently.append(session) }
                open[session] = key
            case "auth.paired":
                open[session] = nil
                paired.append(session)
            case "auth.failed":
                open[session] = nil
                let reason = data?["reason"]?.stringValue ?? ""
                failed[session, default: []].append(reason)
                if !documentedReasons.contains(reason) { undocumented.append("\(session): \(reason)") }
            case "auth.timeout":
                open[session] = nil
                failed[session, default: []].append("timeout")
            default:
                continue
            }
        }
        unfinished = open.keys.sorted()
    }
}

/// Every event of the test's topology prefix, as they arrive.
final class EventListener: Sendable {
    let events = Collector<JSONObject>()
    private let client: AMQPClient
    private let task: Task<Void, any Error>
    private let collectTask: Task<Void, Never>

    private init(client: AMQPClient) {
        self.client = client
        task = Task { try await client.run() }
        let events = events
        collectTask = Task {
            for await delivery in client.deliveries {
                if let event = (try? JSONParser.parse(delivery.body))?.objectValue { events.append(event) }
            }
        }
    }

    static func start(names: WalinkNames, amqp: AMQPConfiguration) async throws -> EventListener {
        let queue = TestBroker.uniqueName("netfleet-events")
        let client = AMQPClient(
            configuration: amqp,
            topology: AMQPTopology(
                exchanges: [AMQPTopology.Exchange(name: names.eventsExchange, type: "topic")],
                queues: [AMQPTopology.Queue(name: queue, durable: false, exclusive: true, autoDelete: true)],
                bindings: [AMQPTopology.Binding(queue: queue, exchange: names.eventsExchange, routingKey: "#")]),
            consumers: [AMQPConsumerSpec(queue: queue, noAck: true)])
        let listener = EventListener(client: client)
        try await client.waitUntilConnected()
        return listener
    }

    func all(_ type: String, session: String? = nil) -> [JSONObject] {
        events.items.filter { $0["type"]?.stringValue == type && (session == nil || $0["session"]?.stringValue == session) }
    }

    /// The first event of `type` for `session`, waiting up to `timeout`.
    func event(_ type: String, session: String, timeout: Duration) async -> JSONObject? {
        let matches: @Sendable (JSONObject) -> Bool = { $0["type"]?.stringValue == type && $0["session"]?.stringValue == session }
        return await events.wait(timeout: timeout) { $0.contains(where: matches) }?.first(where: matches)
    }

    /// Whether `session` had at least `count` events of `type` within `timeout`.
    func count(_ type: String, session: String, atLeast count: Int, timeout: Duration) async -> Bool {
        await events.wait(timeout: timeout) { items in
            items.count { $0["type"]?.stringValue == type && $0["session"]?.stringValue == session } >= count
        } != nil
    }

    func stop() async {
        await client.shutdown()
        _ = try? await task.value
        await collectTask.value
    }
}

/// Sends commands as a careful caller does: each with a `message_id`, re-sent with the same id
/// when no answer came within 30 s or the answer was 503 (after its `retryAfter`), until a final
/// answer or 10 minutes; what never got one is ``lost``.
final class CommandLedger: Sendable {
    private let caller: TestCaller
    private let apiKey: String
    private struct State {
        var sent = 0
        var resent = 0
        var unavailable = 0
        var lost: [String] = []
    }
    private let state = Mutex(State())
    /// Every 503 answer, to wait for the first one of an outage.
    private let unavailableLog = Collector<Int>()

    init(caller: TestCaller, apiKey: String) {
        self.caller = caller
        self.apiKey = apiKey
    }

    var sent: Int { state.withLock { $0.sent } }
    var resent: Int { state.withLock { $0.resent } }
    var unavailableAnswers: Int { state.withLock { $0.unavailable } }
    var lost: [String] { state.withLock { $0.lost } }

    func waitForUnavailable(moreThan count: Int, timeout: Duration) async -> Bool {
        await unavailableLog.wait(count: count + 1, timeout: timeout) != nil
    }

    func runAll(_ commands: [(String, JSONObject)]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (name, body) in commands {
                group.addTask { _ = try await self.run(name, body) }
            }
            try await group.waitForAll()
        }
    }

    struct Answer: Sendable {
        let status: Int
        let body: JSONValue
    }

    func run(_ name: String, _ body: JSONObject) async throws -> Answer {
        let messageID = UUID().uuidString
        state.withLock { $0.sent += 1 }
        let deadline = ContinuousClock.now + .seconds(600)
        var attempts: [String] = []
        while ContinuousClock.now < deadline {
            if !attempts.isEmpty { state.withLock { $0.resent += 1 } }
            let correlationID = "\(messageID).\(attempts.count)"
            attempts.append(correlationID)
            let sentIDs = Set(attempts)
            try await caller.send(
                name, body: JSONValue.object(body).serialized, correlationID: correlationID, messageID: messageID,
                headers: ["authorization": .string("Bearer \(apiKey)")])
            let status: @Sendable (AMQPDelivery) -> Int = { $0.properties.headers?["status"]?.intValue ?? -1 }
            let items = await caller.replies.wait(timeout: .seconds(30)) { replies in
                replies.contains { reply in
                    guard let id = reply.properties.correlationID, sentIDs.contains(id) else { return false }
                    return status(reply) != 503 || id == correlationID
                }
            }
            guard let items else { continue }
            let mine = items.filter { $0.properties.correlationID.map(sentIDs.contains) ?? false }
            if let final = mine.first(where: { status($0) != 503 }) {
                return Answer(status: status(final), body: (try? JSONParser.parse(final.body)) ?? .null)
            }
            // 503 for this attempt: the store or the owner is unavailable for now.
            let count = state.withLock { state -> Int in
                state.unavailable += 1
                return state.unavailable
            }
            unavailableLog.append(count)
            let answer = mine.last.flatMap { try? JSONParser.parse($0.body) }
            let retryAfter = answer?.objectValue?["error"]?.objectValue?["details"]?.objectValue?["retryAfter"]?.numberValue ?? 1
            try await Task.sleep(for: .seconds(min(max(retryAfter, 0.2), 5)))
        }
        state.withLock { $0.lost.append("\(name) \(messageID)") }
        throw BrokerControlError(message: "\(name) (message_id \(messageID)) was never answered")
    }
}
