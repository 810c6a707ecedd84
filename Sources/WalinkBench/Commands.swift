import AMQP
import ArgumentParser
import Foundation

/// The entry point. Not an async `main`: on Linux that parks the main thread in `dispatch_main()`,
/// which valgrind 3.19 cannot run (it crashes in the `sigsuspend` there), and the benchmarks are
/// meant to be profiled under callgrind. The main thread waits for the command instead; the work
/// runs on Swift's cooperative pool and the benchmarks' own threads as before.
@main
enum WalinkBenchMain {
    static func main() {
        let done = DispatchSemaphore(value: 0)
        // Detached: `main()` is on the main actor, whose queue never runs while this thread waits.
        Task.detached {
            await WalinkBenchCommand.main()  // parses, runs, and exits with the error if there is one
            done.signal()
        }
        done.wait()
    }
}

struct WalinkBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "walink-bench",
        abstract: "walink's benchmarks. Build in release mode; scripts/bench sets everything up.",
        subcommands: [AMQPCommand.self, ProtocolCommand.self, LinkingCommand.self, StoreCommand.self]
    )
}

struct AMQPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "amqp",
        abstract: "worker.ping and session.get through the walink worker vs raw rabbitmq-c echo responders: latency, throughput, CPU.",
        discussion: """
            Needs a RabbitMQ broker (scripts/bench starts a private one on port 5696). The worker runs in \
            this process on broker names of its own (prefix bench.<random>.), which are deleted afterwards, \
            with a SQLite store in a temporary directory (one API key, one session). The baseline is a raw \
            rabbitmq-c echo that acks only once its reply is confirmed (the worker's guarantee); a second raw \
            echo acks right after replying, for reference.
            """
    )

    @OptionGroup var broker: BrokerOption

    @Option(help: "Rounds; the worker and the raw echo take turns within each, and the medians over rounds are reported.")
    var rounds = 5

    @Option(help: "Sequential calls per responder and round, for latency.")
    var latencyCalls = 1_000

    @Option(help: "Warm-up calls per responder before measuring.")
    var warmupCalls = 500

    @Option(help: "Pipelined calls per responder and round, for throughput.")
    var throughputCalls = 20_000

    @Option(help: "Calls in flight for throughput.")
    var inFlight = 200

    @Option(help: "Alternating bursts per responder and round that the throughput calls are split into.")
    var bursts = 10

    @Option(help: "Consumer prefetch of both responders (the worker's concurrency).")
    var prefetch: UInt16 = 64

    @Option(help: "Comma-separated responders to run: ping, session-get, raw-confirmed, raw (default: all; one alone is for profiling).")
    var responders: String?

    private var selectedResponders: [AMQPBenchmark.Responder] {
        get throws {
            guard let responders else { return AMQPBenchmark.Responder.allCases }
            return try responders.split(separator: ",").map { name in
                guard let responder = AMQPBenchmark.Responder.allCases.first(where: { $0.option == name }) else {
                    throw ValidationError("unknown responder \(name); use ping, session-get, raw-confirmed or raw")
                }
                return responder
            }
        }
    }

    func validate() throws {
        guard rounds > 0, latencyCalls > 0, throughputCalls > 0, inFlight > 0, bursts > 0, prefetch > 0, warmupCalls >= 0 else {
            throw ValidationError("counts must be positive")
        }
        guard try !selectedResponders.isEmpty else { throw ValidationError("no responders selected") }
    }

    func run() async throws {
        let configuration = try broker.configuration()
        let options = AMQPBenchmark.Options(
            rounds: rounds, latencyCalls: latencyCalls, warmupCalls: warmupCalls,
            throughputCalls: throughputCalls, inFlight: inFlight, burstsPerRound: bursts, prefetch: prefetch,
            responders: try selectedResponders
        )
        print("amqp benchmark on \(configuration.redactedURL); \(ProcessInfo.processInfo.activeProcessorCount) CPUs")
        print("load average at start: \(MachineInfo.loadAverage)")
        let report = try await AMQPBenchmark.run(configuration: configuration, options: options)
        AMQPBenchmark.print(report, configuration: configuration)
        print("load average at end: \(MachineInfo.loadAverage)")
    }
}

struct ProtocolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "protocol",
        abstract: "WhatsApp protocol throughput: binary XML encode/decode (MB/s) and the Noise transport and handshake."
    )

    func run() {
        print("protocol benchmark; \(MachineInfo.summary)")
        for line in BinaryXMLBenchmark.run() + NoiseBenchmark.run() {
            print(line.formatted)
        }
    }
}

/// What the numbers were measured on.
enum MachineInfo {
    static var summary: String {
        "\(ProcessInfo.processInfo.activeProcessorCount) CPUs, load average \(loadAverage)"
    }

    /// The 1, 5 and 15 minute load averages (Linux), so a busy machine shows in the output.
    static var loadAverage: String {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "unknown" }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }
}
