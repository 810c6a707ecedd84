import AMQP
import ArgumentParser
import Foundation
import Logging
import Store

struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "PostgreSQL vs SQLite store: session.get throughput through the worker, ownership latency, upkeep writes per worker.",
        discussion: """
            Needs a RabbitMQ broker and a PostgreSQL server whose user may create databases (scripts/bench store \
            starts private ones). The PostgreSQL URL comes from $WALINK_BENCH_POSTGRES_URL only, never the command \
            line, since it carries a password; it is printed without it. Each run works in a database of its own \
            (walink_bench_<random>), dropped afterwards, and an SQLite file in a temporary directory.
            """
    )

    @OptionGroup var broker: BrokerOption

    @Option(help: "session.get rounds; the stores take turns within each, and the medians over rounds are reported.")
    var rounds = 3

    @Option(help: "Pipelined session.get calls per store and round.")
    var throughputCalls = 10_000

    @Option(help: "Sequential session.get calls per store and round, for latency.")
    var latencyCalls = 500

    @Option(help: "Sequential calls per ownership operation and store.")
    var ownershipCalls = 1_000

    @Option(help: "The upkeep worker's lease in seconds (renewed every third of it).")
    var leaseSeconds = 3.0

    @Option(help: "Seconds the upkeep writes are counted for.")
    var windowSeconds = 10.0

    @Option(help: "Comma-separated numbers of sessions the upkeep worker holds.")
    var heldSessions = "10,10000"

    func validate() throws {
        guard rounds > 0, throughputCalls > 0, latencyCalls > 0, ownershipCalls > 0, leaseSeconds >= 1, windowSeconds > 0 else {
            throw ValidationError("counts must be positive and the lease at least 1 s")
        }
        guard try !parsedHeldSessions.isEmpty else { throw ValidationError("name at least one number of held sessions") }
    }

    private var parsedHeldSessions: [Int] {
        get throws {
            try heldSessions.split(separator: ",").map { text in
                guard let count = Int(text), count > 0 else { throw ValidationError("held sessions must be positive numbers") }
                return count
            }
        }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let amqp = try broker.configuration()
        guard let postgresURL = environment["WALINK_BENCH_POSTGRES_URL"], !postgresURL.isEmpty else {
            throw BenchmarkError("set WALINK_BENCH_POSTGRES_URL to a PostgreSQL server (scripts/bench store starts one)")
        }
        let postgres = try PostgresSettings(url: postgresURL)
        var options = StoreBenchmark.Options()
        options.rounds = rounds
        options.throughputCalls = throughputCalls
        options.latencyCalls = latencyCalls
        options.ownershipCalls = ownershipCalls
        options.lease = .milliseconds(Int64(leaseSeconds * 1000))
        options.window = .milliseconds(Int64(windowSeconds * 1000))
        options.heldSessions = try parsedHeldSessions

        var logger = Logger(label: "walink.bench-store")
        logger.logLevel = .warning
        print("store benchmark: SQLite (a file in \(FileManager.default.temporaryDirectory.path)) vs \(postgres)")
        print("broker \(amqp.redactedURL); \(MachineInfo.summary)")
        let started = ContinuousClock.now
        let report = try await StoreBenchmark.run(amqp: amqp, postgres: postgres, options: options, logger: logger)
        StoreBenchmark.print(report)
        print("load average at end: \(MachineInfo.loadAverage); took \(Int(StoreBenchmark.seconds(started.duration(to: .now)).rounded())) s")
    }
}
