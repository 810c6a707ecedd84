import AMQP
import Auth
import Foundation
import Gateway
import Logging
import ServiceLifecycle
import Store
import StoreFactory
import WhatsAppLink

/// The store a fleet shares (PostgreSQL) against the one-machine store (SQLite), in one run:
///
/// - **session.get throughput**: an API-key `session.get` pipelined through one in-process worker
///   per store (each on broker names of its own), in bursts taking turns so machine noise hits
///   both alike, as in ``AMQPBenchmark``; the goal is PostgreSQL ≥ 0.7× SQLite.
/// - **ownership latency**: `registerWorker` (lease acquire), `renewWorker` (renew) and
///   `claimSession` (session claim) called straight on each store, one at a time, alternating
///   between the stores call by call.
/// - **upkeep writes**: a real worker with linking enabled and a short lease keeps its tenure while
///   10, then 10,000 sessions are claimed in the store under that tenure. Over a measured window,
///   every store call the worker makes goes through a ``CountingStore`` (exact, on both stores),
///   and on PostgreSQL the database's own row-write counters are read as well. Ownership is one
///   worker lease renewed every third of its ttl, so both sizes should cost the same few writes.
enum StoreBenchmark {
    enum Kind: Int, CaseIterable, Sendable {
        case sqlite, postgres

        var name: String {
            switch self {
            case .sqlite: "SQLite"
            case .postgres: "PostgreSQL"
            }
        }
    }

    struct Options: Sendable {
        var rounds = 3
        /// Sequential session.get calls per store and round, for latency.
        var latencyCalls = 500
        var warmupCalls = 300
        /// Pipelined session.get calls per store and round.
        var throughputCalls = 10_000
        var inFlight = 200
        var bursts = 10
        var prefetch: UInt16 = 64
        /// Sequential calls per ownership operation and store.
        var ownershipCalls = 1_000
        /// The upkeep worker's lease; it renews every third of it.
        var lease: Duration = .seconds(3)
        /// How long the upkeep writes are counted.
        var window: Duration = .seconds(10)
        /// Idle time before the window, so PostgreSQL has published the counts of the claims
        /// (a server process publishes within 10 s of going idle).
        var settle: Duration = .seconds(11)
        var heldSessions = [10, 10_000]
        /// Store calls in flight while the upkeep sessions are created and claimed: fewer than the
        /// PostgreSQL store's 16 pooled connections, so the worker's renewals never queue for one.
        var setupConcurrency = 8
    }

    /// The goal for PostgreSQL's session.get throughput against SQLite's.
    static let sessionGetThroughputGoal = 0.7

    enum Operation: Int, CaseIterable, Sendable {
        case register, renew, claim

        var name: String {
            switch self {
            case .register: "registerWorker (lease acquire)"
            case .renew: "renewWorker (lease renew)"
            case .claim: "claimSession (session claim)"
            }
        }
    }

    struct Percentiles: Sendable {
        var p50: Double
        var p99: Double

        init(_ samples: [Double]) {
            let sorted = samples.sorted()
            p50 = AMQPBenchmark.percentile(sorted, 0.50)
            p99 = AMQPBenchmark.percentile(sorted, 0.99)
        }
    }

    /// One worker's store activity over the upkeep window.
    struct Upkeep: Sendable {
        var held: Int
        var seconds: Double
        /// The worker's store calls in the window, by operation.
        var calls: CountingStore.Counts
        /// PostgreSQL's own count of rows written in the window (nil for SQLite).
        var databaseRows: Int64?
        /// Sessions the worker's tenure still owned after the window.
        var ownedAfter: Int
        /// The worker's slowest renewal while the sessions were being claimed, in seconds (nil: none ran meanwhile).
        var slowestRenewalWhileClaiming: Double?
        /// Tenures that lapsed while the sessions were being claimed (the claims then ran again).
        var lapsesWhileClaiming: Int
        var tenure: WorkerTenure

        var writesPerSecond: Double { Double(calls.writes) / seconds }
        var callsPerSecond: Double { Double(calls.all) / seconds }
        var databaseRowsPerSecond: Double? { databaseRows.map { Double($0) / seconds } }
    }

    struct Report: Sendable {
        var options: Options
        /// Per store (``Kind`` order), one result per round.
        var sessionGet: [[AMQPBenchmark.RoundResult]]
        /// Per store, per ``Operation``.
        var ownership: [[Percentiles]]
        /// Per store, one per held-session count.
        var upkeep: [[Upkeep]]
    }

    static func run(amqp: AMQPConfiguration, postgres: PostgresSettings, options: Options, logger: Logger) async throws -> Report {
        let run = String(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF, radix: 16)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("walink-bench-store-\(run)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // A database of this run's own: fresh counters, and no key check of an earlier run.
        let activity = try await PostgresActivity.create(database: "walink_bench_\(run)", on: postgres, logger: logger)
        var stores: [any WalinkStore] = []
        do {
            stores.append(
                try await StoreFactory.open(
                    StoreConfiguration(location: .sqlite(path: directory.appendingPathComponent("walink.db").path), key: .key(.random())),
                    logger: logger))
            stores.append(
                try await StoreFactory.open(
                    StoreConfiguration(location: .postgres(activity.storeSettings), key: .key(.random())), logger: logger))
            Swift.print("session.get through one worker per store ...")
            let sessionGet = try await measureSessionGet(stores: stores, amqp: amqp, options: options, run: run, logger: logger)
            Swift.print("ownership latency ...")
            let ownership = try await measureOwnership(stores: stores, options: options, run: run)
            let opened = stores
            var upkeep = [[Upkeep]](repeating: [], count: Kind.allCases.count)
            for held in options.heldSessions {
                Swift.print("upkeep while holding \(held) sessions ...")
                // Both stores at once: the waits overlap, and each worker has a store of its own.
                try await withThrowingTaskGroup(of: (Kind, Upkeep).self) { group in
                    for kind in Kind.allCases {
                        group.addTask {
                            let result = try await measureUpkeep(
                                kind: kind, store: opened[kind.rawValue], activity: kind == .postgres ? activity : nil, held: held,
                                amqp: amqp, options: options, run: run, logger: logger)
                            return (kind, result)
                        }
                    }
                    for try await (kind, result) in group { upkeep[kind.rawValue].append(result) }
                }
            }
            for store in stores { await store.close() }
            await activity.dropDatabase()
            return Report(options: options, sessionGet: sessionGet, ownership: ownership, upkeep: upkeep)
        } catch {
            for store in stores { await store.close() }
            await activity.dropDatabase()
            throw error
        }
    }

    // MARK: - session.get

    private static func measureSessionGet(
        stores: [any WalinkStore], amqp: AMQPConfiguration, options: Options, run: String, logger: Logger
    ) async throws -> [[AMQPBenchmark.RoundResult]] {
        var workers: [BenchWorker] = []
        var targets: [Requester.Target] = []
        defer { for worker in workers { worker.cancel() } }
        for kind in Kind.allCases {
            let store = stores[kind.rawValue]
            let organization = "bench-\(run)-get"
            let apiKey = try await store.createAPIKey(organization: organization, name: "bench", permissions: [Principal.manage]).key
            let session = try await store.createSession(organization: organization, id: "bench-session", name: nil)
            let callers = try CallerAuthenticator(configuration: AuthConfiguration(), apiKeys: StoreAPIKeyResolver(store: store), logger: logger)
            let worker = try await BenchWorker.start(
                configuration: WorkerConfiguration(
                    amqp: amqp, workerID: "bench-\(run)-get-\(kind)", concurrency: options.prefetch,
                    names: WalinkNames(prefix: "bench.\(run).get-\(kind).")),
                store: store, authenticator: GatewayAuthenticator(callers: callers), logger: logger)
            workers.append(worker)
            targets.append(
                Requester.Target(
                    queue: worker.names.commandsQueue, command: "session.get", authorization: "Bearer \(apiKey)",
                    body: Array(#"{"session":"\#(session.id)"}"#.utf8)))
        }
        let measured: Result<[[AMQPBenchmark.RoundResult]], BenchmarkError> = await onThread(named: "walink-bench-requester") {
            [targets] in
            do throws(BenchmarkError) {
                let requester = try Requester(configuration: amqp)
                defer { requester.close() }
                for target in targets {
                    _ = try requester.latencies(target, calls: options.warmupCalls)
                    _ = try requester.throughput(target, calls: max(options.inFlight * 5, 1_000), inFlight: options.inFlight)
                }
                var rounds = [[AMQPBenchmark.RoundResult]](repeating: [], count: Kind.allCases.count)
                for round in 1...options.rounds {
                    let latency = try requester.interleavedLatencies(targets, callsEach: options.latencyCalls)
                    let throughput = try requester.interleavedThroughput(
                        targets, callsEach: options.throughputCalls, bursts: options.bursts, inFlight: options.inFlight)
                    var line = "  round \(round)/\(options.rounds)"
                    for kind in Kind.allCases {
                        let percentiles = Percentiles(latency[kind.rawValue])
                        let result = AMQPBenchmark.RoundResult(
                            p50: percentiles.p50, p99: percentiles.p99, throughput: throughput[kind.rawValue].callsPerSecond,
                            cpuPerCall: throughput[kind.rawValue].responderCPUPerCall)
                        rounds[kind.rawValue].append(result)
                        line += "  | \(kind.name): \(micro(result.p50)) / \(micro(result.p99)), \(rate(result.throughput))"
                    }
                    Swift.print(line)
                }
                return .success(rounds)
            } catch {
                return .failure(error)
            }
        }
        for worker in workers { await worker.stop() }
        await BenchWorker.deleteBrokerObjects(of: workers, configuration: amqp)
        return try measured.get()
    }

    // MARK: - Ownership latency

    private static func measureOwnership(stores: [any WalinkStore], options: Options, run: String) async throws -> [[Percentiles]] {
        let warmup = min(100, options.ownershipCalls)
        let organization = "bench-\(run)-own"
        var tenures: [WorkerTenure] = []
        for store in stores {
            for index in 0..<(warmup + options.ownershipCalls) {
                _ = try await store.createSession(organization: organization, id: "claim-\(index)", name: nil)
            }
            tenures.append(try await store.registerWorker("bench-\(run)-owner", ttl: .seconds(600)).tenure)
        }
        var samples = [[[Double]]](repeating: [[Double]](repeating: [], count: Operation.allCases.count), count: stores.count)
        let clock = ContinuousClock()
        for call in 0..<(warmup + options.ownershipCalls) {
            for operation in Operation.allCases {
                for offset in stores.indices {
                    // Which store goes first alternates, so neither always follows the other.
                    let kind = (call + offset) % stores.count
                    let store = stores[kind]
                    let started = clock.now
                    switch operation {
                    case .register:
                        // A worker registering for the first time: a new lease row.
                        _ = try await store.registerWorker("bench-\(run)-lease-\(call)", ttl: .seconds(600))
                    case .renew:
                        guard try await store.renewWorker(tenures[kind], ttl: .seconds(600)) != nil else {
                            throw BenchmarkError("\(Kind(rawValue: kind)!.name): the benchmark's tenure could not be renewed")
                        }
                    case .claim:
                        // An unowned session: the claim records a new owner.
                        let claim = try await store.claimSession(organization: organization, session: "claim-\(call)", by: tenures[kind])
                        guard claim.isGranted else { throw BenchmarkError("\(Kind(rawValue: kind)!.name): a free session was not granted") }
                    }
                    if call >= warmup { samples[kind][operation.rawValue].append(seconds(started.duration(to: clock.now))) }
                }
            }
        }
        return samples.map { $0.map(Percentiles.init) }
    }

    // MARK: - Upkeep

    /// One worker holding `held` sessions: its store calls over the window. Method: the worker runs
    /// as in production (its ``LinkManager`` keeps the tenure with the real ``WorkerTenureKeeper``),
    /// but on a ``CountingStore`` and a short lease so the window sees several renewals; the
    /// sessions are created and claimed under its tenure straight on the store (not counted), the
    /// counts settle, and then only the worker's own calls in the window are counted. Afterwards
    /// the tenure must be unchanged and still own every session, so nothing lapsed meanwhile.
    private static func measureUpkeep(
        kind: Kind, store: any WalinkStore, activity: PostgresActivity?, held: Int, amqp: AMQPConfiguration, options: Options,
        run: String, logger: Logger
    ) async throws -> Upkeep {
        let organization = "bench-\(run)-hold\(held)"
        let sessions = (0..<held).map { "held-\($0)" }
        try await concurrently(sessions, width: options.setupConcurrency) { session in
            _ = try await store.createSession(organization: organization, id: session, name: nil)
        }
        let counting = CountingStore(wrapping: store)
        let worker = try await BenchWorker.start(
            configuration: WorkerConfiguration(
                amqp: amqp, workerID: "bench-\(run)-hold\(held)-\(kind)", concurrency: options.prefetch,
                names: WalinkNames(prefix: "bench.\(run).hold\(held)-\(kind).")),
            store: counting, linking: LinkManager.Configuration(link: LinkConfiguration(), leaseDuration: options.lease), logger: logger)
        do {
            let beforeClaims = counting.snapshot
            let (tenure, lapses) = try await claimAll(
                sessions, organization: organization, store: store, worker: worker, kind: kind, options: options)
            let slowestRenewalWhileClaiming = counting.snapshot.since(beforeClaims).renewalSeconds.max()
            try await Task.sleep(for: options.settle)

            let clock = ContinuousClock()
            let callsBefore = counting.snapshot
            let rowsBefore = try await activity?.rowsWritten()
            let started = clock.now
            try await Task.sleep(for: options.window)
            let callsAfter = counting.snapshot
            let elapsed = seconds(started.duration(to: clock.now))
            let rowsAfter = try await activity?.rowsWritten()

            let current = try await worker.tenure(within: .seconds(1))
            guard current.isSame(as: tenure) else {
                throw BenchmarkError("\(kind.name): the worker's tenure \(tenure) lapsed during the window (now \(current))")
            }
            let owned: Int
            if let activity {
                owned = try await activity.sessionsOwned(by: tenure)
            } else {
                var count = 0
                for session in sessions {
                    if try await store.sessionOwner(organization: organization, session: session)?.owner.isSame(as: tenure) == true { count += 1 }
                }
                owned = count
            }
            await worker.stop()
            await BenchWorker.deleteBrokerObjects(of: [worker], configuration: amqp)
            return Upkeep(
                held: held, seconds: elapsed, calls: callsAfter.since(callsBefore),
                databaseRows: rowsAfter.flatMap { after in rowsBefore.map { after - $0 } }, ownedAfter: owned,
                slowestRenewalWhileClaiming: slowestRenewalWhileClaiming, lapsesWhileClaiming: lapses, tenure: tenure)
        } catch {
            await worker.stop()
            await BenchWorker.deleteBrokerObjects(of: [worker], configuration: amqp)
            throw error
        }
    }

    /// Claims every session under the worker's tenure; the tenure it ended with. On a busy machine
    /// a renewal can miss the short lease while thousands of claims run: then the worker registers
    /// a new tenure, and the claims start over under it (the lapsed tenure's are free again).
    private static func claimAll(
        _ sessions: [String], organization: String, store: any WalinkStore, worker: BenchWorker, kind: Kind, options: Options
    ) async throws -> (WorkerTenure, lapses: Int) {
        for attempt in 1...3 {
            let tenure = try await worker.tenure(within: .seconds(30))
            do {
                try await concurrently(sessions, width: options.setupConcurrency) { session in
                    guard try await store.claimSession(organization: organization, session: session, by: tenure).isGranted else {
                        throw BenchmarkError("\(kind.name): session \(session) was not granted to \(tenure)")
                    }
                }
                return (tenure, attempt - 1)
            } catch let error as StoreError where error.code == .leaseLost {
                Swift.print("  \(kind.name): tenure \(tenure) lapsed while claiming (attempt \(attempt)); claiming again under the next")
            }
        }
        throw BenchmarkError("\(kind.name): the worker's tenure kept lapsing while its sessions were claimed")
    }

    /// Runs `body` for every item, at most `width` at a time.
    private static func concurrently(_ items: [String], width: Int, _ body: @escaping @Sendable (String) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            while next < min(width, items.count) {
                let item = items[next]
                group.addTask { try await body(item) }
                next += 1
            }
            while try await group.next() != nil {
                guard next < items.count else { continue }
                let item = items[next]
                group.addTask { try await body(item) }
                next += 1
            }
        }
    }

    // MARK: - Printing

    static func print(_ report: Report) {
        let options = report.options
        let get = Kind.allCases.map { kind in
            let rounds = report.sessionGet[kind.rawValue]
            return AMQPBenchmark.RoundResult(
                p50: AMQPBenchmark.median(rounds.map(\.p50)), p99: AMQPBenchmark.median(rounds.map(\.p99)),
                throughput: AMQPBenchmark.median(rounds.map(\.throughput)), cpuPerCall: AMQPBenchmark.median(rounds.map(\.cpuPerCall)))
        }
        Swift.print(
            """

            session.get (API key, authorization: Bearer) through one in-process worker per store; medians over \(options.rounds) rounds
              latency: \(options.latencyCalls) sequential calls per store and round, interleaved call by call
              throughput: \(options.throughputCalls) calls per store and round, \(options.inFlight) in flight, prefetch \(options.prefetch), in \(options.bursts) bursts taking turns
              CPU/call: this process's CPU outside the requester (the worker and its store client; not the PostgreSQL server)

                              p50         p99      throughput   CPU/call
            """)
        for kind in Kind.allCases {
            let value = get[kind.rawValue]
            Swift.print(
                pad(kind.name, 14) + pad(micro(value.p50), 12, left: true) + pad(micro(value.p99), 12, left: true)
                    + pad(rate(value.throughput), 16, left: true) + pad(micro(value.cpuPerCall), 11, left: true))
        }
        let ratio = get[Kind.postgres.rawValue].throughput / get[Kind.sqlite.rawValue].throughput
        Swift.print(
            pad("PostgreSQL/SQLite session.get throughput", 46)
                + "\(format(ratio, 2))  (goal >= \(format(sessionGetThroughputGoal, 2)))  \(ratio >= sessionGetThroughputGoal ? "met" : "MISSED")")

        Swift.print(
            """

            ownership latency: \(options.ownershipCalls) sequential calls per operation and store, straight on the store, alternating stores call by call
                                                SQLite p50       p99   PostgreSQL p50       p99
            """)
        for operation in Operation.allCases {
            let sqlite = report.ownership[Kind.sqlite.rawValue][operation.rawValue]
            let postgres = report.ownership[Kind.postgres.rawValue][operation.rawValue]
            Swift.print(
                pad(operation.name, 32) + pad(micro(sqlite.p50), 14, left: true) + pad(micro(sqlite.p99), 10, left: true)
                    + pad(micro(postgres.p50), 18, left: true) + pad(micro(postgres.p99), 10, left: true))
        }

        let renewalsPerSecond = 1 / (seconds(options.lease) / 3)
        Swift.print(
            """

            upkeep: store writes of one worker holding sessions (lease \(format(seconds(options.lease), 1)) s, renewed every \(format(seconds(options.lease) / 3, 1)) s: \(format(renewalsPerSecond, 2)) writes/s expected at any size,
              give or take one renewal at the window's edges)
              method: a real worker (linking on, its own tenure keeper) on a store wrapper that counts every call it makes;
              the sessions are claimed in the store under the worker's tenure first (not counted), then the worker's calls
              are counted over a \(format(seconds(options.window), 0)) s window. Beside them, PostgreSQL's own count of rows
              inserted+updated+deleted in the window (pg_stat_user_tables, after \(format(seconds(options.settle), 0)) s of settling; a server
              process publishes its counts up to a second late, so this may be off by a row). Afterwards the
              tenure must be unchanged and own every session.

            """)
        let header = options.heldSessions.map { pad("holding \(grouped($0))", 18, left: true) }.joined()
        Swift.print(pad("", 36) + header)
        for kind in Kind.allCases {
            let results = report.upkeep[kind.rawValue]
            Swift.print(pad("\(kind.name) store writes/s", 36) + results.map { pad(format($0.writesPerSecond, 2), 18, left: true) }.joined())
            Swift.print(pad("\(kind.name) store calls/s (all)", 36) + results.map { pad(format($0.callsPerSecond, 2), 18, left: true) }.joined())
            if results.contains(where: { $0.databaseRows != nil }) {
                Swift.print(
                    pad("\(kind.name) rows written/s (pg_stat)", 36)
                        + results.map { pad($0.databaseRowsPerSecond.map { format($0, 2) } ?? "-", 18, left: true) }.joined())
            }
            Swift.print(
                pad("\(kind.name) sessions still owned", 36)
                    + results.map { pad("\(grouped($0.ownedAfter))/\(grouped($0.held))", 18, left: true) }.joined()
            )
            for result in results {
                let renewals = result.calls.renewalSeconds
                Swift.print(
                    "  \(kind.name), holding \(grouped(result.held)): \(result.calls.summary) in \(format(result.seconds, 1)) s;"
                        + " renewals p50 \(micro(Percentiles(renewals).p50)), slowest \(micro(renewals.max() ?? 0));"
                        + " while claiming: slowest renewal \(result.slowestRenewalWhileClaiming.map(micro) ?? "none ran"), \(result.lapsesWhileClaiming) tenure lapses"
                )
            }
        }
        let all = report.upkeep.flatMap { $0 }
        if let small = all.map(\.writesPerSecond).min(), let large = all.map(\.writesPerSecond).max() {
            let independent = all.allSatisfy { $0.ownedAfter == $0.held } && large <= max(small * 1.5, small + 0.5)
            Swift.print(
                "upkeep independent of sessions held: \(independent ? "yes" : "NO") (\(format(small, 2))–\(format(large, 2)) writes/s over all cases)"
            )
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private static func format(_ value: Double, _ decimals: Int) -> String { String(format: "%.\(decimals)f", value) }
    private static func micro(_ seconds: Double) -> String { String(format: "%.0f µs", seconds * 1e6) }
    private static func rate(_ perSecond: Double) -> String { String(format: "%.0f calls/s", perSecond) }

    /// `10,000`.
    private static func grouped(_ value: Int) -> String {
        let digits = Array(String(value))
        var text = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { text += "," }
            text.append(digit)
        }
        return text
    }

    private static func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
        let count = text.count
        guard count < width else { return left ? " " + text : text + " " }
        let spaces = String(repeating: " ", count: width - count)
        return left ? spaces + text : text + spaces
    }
}
