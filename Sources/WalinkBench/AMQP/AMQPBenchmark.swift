import AMQP
import Auth
import Foundation
import Gateway
import Logging
import Store

/// `worker.ping` through the real walink worker against raw rabbitmq-c echo responders (one that acks
/// only after its reply is confirmed, as the worker does: the baseline; one without publisher
/// confirms, for reference), plus an authenticated `session.get` through the same worker, in one
/// run, on one broker, with one requester: sequential round-trip latency and pipelined throughput.
///
/// The worker runs in this process (``Worker``, on broker names of its own, so a real
/// deployment on the same broker is not disturbed), with a real SQLite store in a temporary
/// directory and API-key authentication through it; each echo responder consumes a quorum queue
/// declared like `walink.commands`, with the same prefetch. Within each round they take turns —
/// call by call for latency, in short bursts for throughput, alternating which goes first — so that
/// machine noise (other builds on the same cores) hits all alike; each figure is the median over rounds.
enum AMQPBenchmark {
    struct Options: Sendable {
        var rounds = 5
        /// Sequential calls per responder and round.
        var latencyCalls = 1_000
        /// Calls per responder before measuring (sequential, then one pipelined burst).
        var warmupCalls = 500
        /// Pipelined calls per responder and round.
        var throughputCalls = 20_000
        var inFlight = 200
        /// Throughput runs in this many alternating bursts per responder and round.
        var burstsPerRound = 10
        /// The consumers' prefetch; the worker's default concurrency.
        var prefetch: UInt16 = 64
        /// Which responders take part (all for the report; one alone for profiling).
        var responders: [Responder] = Responder.allCases
    }

    /// What one responder did in one round.
    struct RoundResult: Sendable {
        var p50: Double
        var p99: Double
        var throughput: Double
        /// CPU seconds the responder spent per call during the throughput runs.
        var cpuPerCall: Double
    }

    /// The responders, in the order of the table.
    enum Responder: Int, CaseIterable, Sendable {
        case worker, sessionGet, rawConfirmed, raw

        /// The name on the command line (`--responders`).
        var option: String {
            switch self {
            case .worker: "ping"
            case .sessionGet: "session-get"
            case .rawConfirmed: "raw-confirmed"
            case .raw: "raw"
            }
        }

        var name: String {
            switch self {
            case .worker: "worker: worker.ping"
            case .sessionGet: "worker: session.get"
            case .rawConfirmed: "raw echo + confirms"
            case .raw: "raw echo, no confirms"
            }
        }
    }

    /// The targets, each ratio the worker must meet against the raw echo with confirms (which
    /// gives the worker's guarantee: a request is acked only once its reply is confirmed).
    enum Target {
        static let cpuPerCall = 1.5
        static let throughput = 0.9
        static let latency = 1.1
        /// `session.get` (API key, store lookup) against `worker.ping`, throughput.
        static let sessionGetThroughput = 0.6
    }

    struct Report: Sendable {
        var options: Options
        /// Per responder (``Responder`` order), one result per round.
        var rounds: [[RoundResult]]

        subscript(_ responder: Responder) -> [RoundResult] { rounds[responder.rawValue] }
    }

    static func run(configuration: AMQPConfiguration, options: Options) async throws -> Report {
        let names = WalinkNames(prefix: "bench.\(String(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF, radix: 16)).")
        let echoQueue = names.prefix + "bench.echo"
        let confirmedEchoQueue = names.prefix + "bench.echo-confirmed"

        // The worker's store: a real SQLite file, with one API key allowed to manage sessions and one
        // session for session.get to find.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("walink-bench-amqp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try await SQLiteStore.open(path: directory.appendingPathComponent("walink.db").path, key: .key(.random()))
        let apiKey = try await store.createAPIKey(organization: "bench", name: "bench", permissions: [Principal.manage]).key
        let session = try await store.createSession(organization: "bench", id: "bench-session", name: nil)

        // The walink worker, as `walink worker` runs it, but in this process and quiet (info logs
        // one line per command).
        var logger = Logger(label: "walink.bench-worker")
        logger.logLevel = .warning
        let callers = try CallerAuthenticator(configuration: AuthConfiguration(), apiKeys: StoreAPIKeyResolver(store: store), logger: logger)
        let worker = try await BenchWorker.start(
            configuration: WorkerConfiguration(amqp: configuration, workerID: "bench-worker", concurrency: options.prefetch, names: names),
            store: store, authenticator: GatewayAuthenticator(callers: callers), logger: logger
        )
        defer { worker.cancel() }

        // Quorum queues declared like walink.commands.
        let queueArguments: [(String, AMQPFieldValue)] = [
            ("x-delivery-limit", .int32(Int32(WalinkTopology.defaultDeliveryLimit))),
            ("x-dead-letter-exchange", .string(names.deadExchange)),
        ]
        var echoes: [RawEchoResponder] = []
        if options.responders.contains(.raw) {
            echoes.append(
                try await RawEchoResponder.start(
                    configuration: configuration, queue: echoQueue, arguments: queueArguments, prefetch: options.prefetch
                ))
        }
        if options.responders.contains(.rawConfirmed) {
            echoes.append(
                try await RawEchoResponder.start(
                    configuration: configuration, queue: confirmedEchoQueue, arguments: queueArguments, prefetch: options.prefetch,
                    confirmed: true
                ))
        }

        let responders = options.responders
        let targets = responders.map { responder in
            switch responder {
            case .worker: Requester.Target(queue: names.commandsQueue, command: "worker.ping")
            case .sessionGet:
                Requester.Target(
                    queue: names.commandsQueue, command: "session.get", authorization: "Bearer \(apiKey)",
                    body: Array(#"{"session":"\#(session.id)"}"#.utf8))
            case .raw: Requester.Target(queue: echoQueue, command: "worker.ping")
            case .rawConfirmed: Requester.Target(queue: confirmedEchoQueue, command: "worker.ping")
            }
        }
        let measured: Result<Report, BenchmarkError> = await onThread(named: "walink-bench-requester") {
            do throws(BenchmarkError) {
                let requester = try Requester(configuration: configuration)
                defer { requester.close() }
                for target in targets {
                    _ = try requester.latencies(target, calls: options.warmupCalls)
                    _ = try requester.throughput(target, calls: max(options.inFlight * 5, 1_000), inFlight: options.inFlight)
                }
                var rounds = [[RoundResult]](repeating: [], count: Responder.allCases.count)
                for round in 1...options.rounds {
                    let latency = try requester.interleavedLatencies(targets, callsEach: options.latencyCalls)
                    let throughput = try requester.interleavedThroughput(
                        targets, callsEach: options.throughputCalls, bursts: options.burstsPerRound, inFlight: options.inFlight
                    )
                    var line = "  round \(round)/\(options.rounds)"
                    for (index, responder) in responders.enumerated() {
                        let samples = latency[index].sorted()
                        let result = RoundResult(
                            p50: percentile(samples, 0.50), p99: percentile(samples, 0.99),
                            throughput: throughput[index].callsPerSecond,
                            cpuPerCall: throughput[index].responderCPUPerCall
                        )
                        rounds[responder.rawValue].append(result)
                        line += "  | \(responder.name): \(micro(result.p50)) / \(micro(result.p99)), \(rate(result.throughput))"
                    }
                    Swift.print(line)
                }
                return .success(Report(options: options, rounds: rounds))
            } catch {
                return .failure(error)
            }
        }

        for responder in echoes {
            if let error = await responder.stop() { Swift.print("raw echo responder on \(responder.queue) ended with: \(error)") }
        }
        await worker.stop()
        await store.close()
        // Leave nothing behind on the broker (quorum queues are each a process of their own).
        await BenchWorker.deleteBrokerObjects(of: [worker], configuration: configuration, extraQueues: [echoQueue, confirmedEchoQueue])
        return try measured.get()
    }

    // MARK: - Printing

    static func print(_ report: Report, configuration: AMQPConfiguration) {
        let options = report.options
        let summaries = Responder.allCases.map { summary(report[$0]) }
        let worker = summaries[Responder.worker.rawValue]
        let sessionGet = summaries[Responder.sessionGet.rawValue]
        let raw = summaries[Responder.raw.rawValue]
        let confirmed = summaries[Responder.rawConfirmed.rawValue]
        Swift.print(
            """

            worker.ping and session.get round trips through RabbitMQ at \(configuration.nodes.map(\.description).joined(separator: ","))
              quorum queues, Direct Reply-to, one rabbitmq-c requester, prefetch \(options.prefetch); medians over \(options.rounds) rounds
              latency: \(options.latencyCalls) sequential calls each per round, interleaved call by call
              throughput: \(options.throughputCalls) calls each per round, \(options.inFlight) in flight, in \(options.burstsPerRound) bursts taking turns
              CPU/call: this process's CPU time outside the requester during the throughput runs, per call (broker not included)
              session.get: an API key (authorization: Bearer) and a session in the worker's SQLite store
              raw echo + confirms acks only once its reply is confirmed, as the worker does (the baseline);
              raw echo, no confirms acks right after replying (for reference)

                                         p50         p99      throughput   CPU/call
            """)
        for responder in options.responders.sorted(by: { $0.rawValue < $1.rawValue }) {
            let value = summaries[responder.rawValue]
            Swift.print(
                pad(responder.name, 24) + pad(micro(value.p50), 12, left: true) + pad(micro(value.p99), 12, left: true)
                    + pad(rate(value.throughput), 16, left: true) + pad(micro(value.cpuPerCall), 11, left: true)
            )
        }
        Swift.print("")
        guard Set(options.responders) == Set(Responder.allCases) else { return }  // a partial run, for profiling
        for line in verdicts(worker: worker, sessionGet: sessionGet, confirmed: confirmed) { Swift.print(line) }
        Swift.print(
            "worker.ping/(raw, no confirms): p50 \(ratio(worker.p50 / raw.p50)), throughput \(ratio(worker.throughput / raw.throughput)), CPU/call \(ratio(worker.cpuPerCall / raw.cpuPerCall))  (reference)"
        )
    }

    /// One line per target: the measured ratio, the target and whether it was met.
    static func verdicts(worker: RoundResult, sessionGet: RoundResult, confirmed: RoundResult) -> [String] {
        func line(_ label: String, _ value: Double, atMost limit: Double) -> String {
            pad(label, 46) + "\(ratio(value))  (target <= \(ratio(limit)))  \(value <= limit ? "met" : "MISSED")"
        }
        func line(_ label: String, _ value: Double, atLeast limit: Double) -> String {
            pad(label, 46) + "\(ratio(value))  (target >= \(ratio(limit)))  \(value >= limit ? "met" : "MISSED")"
        }
        return [
            line("worker.ping/(raw + confirms) CPU per call", worker.cpuPerCall / confirmed.cpuPerCall, atMost: Target.cpuPerCall),
            line("worker.ping/(raw + confirms) throughput", worker.throughput / confirmed.throughput, atLeast: Target.throughput),
            line("worker.ping/(raw + confirms) p50 latency", worker.p50 / confirmed.p50, atMost: Target.latency),
            line("session.get/worker.ping throughput", sessionGet.throughput / worker.throughput, atLeast: Target.sessionGetThroughput),
        ]
    }

    private static func ratio(_ value: Double) -> String { String(format: "%.2f", value) }

    private static func summary(_ rounds: [RoundResult]) -> RoundResult {
        RoundResult(
            p50: median(rounds.map(\.p50)), p99: median(rounds.map(\.p99)),
            throughput: median(rounds.map(\.throughput)), cpuPerCall: median(rounds.map(\.cpuPerCall))
        )
    }

    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let index = min(sorted.count - 1, max(0, Int((Double(sorted.count) * fraction).rounded(.up)) - 1))
        return sorted[index]
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    private static func micro(_ seconds: Double) -> String { String(format: "%.0f µs", seconds * 1e6) }
    private static func rate(_ perSecond: Double) -> String { String(format: "%.0f calls/s", perSecond) }

    private static func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
        let count = text.count
        guard count < width else { return text }
        let spaces = String(repeating: " ", count: width - count)
        return left ? spaces + text : text + spaces
    }
}

/// Runs blocking work on a thread of its own, off the cooperative pool (which has only as many
/// threads as cores, and which the in-process worker needs).
func onThread<T: Sendable>(named name: String, _ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.name = name
        thread.start()
    }
}
