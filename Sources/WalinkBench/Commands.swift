import AMQP
import ArgumentParser
import Foundation

/// The entry point (`@main`; a top-level `main.swift` would pick ArgumentParser's synchronous `main()`,
/// which cannot run the async `amqp` subcommand).
@main
struct WalinkBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "walink-bench",
        abstract: "walink's benchmarks. Build in release mode; scripts/bench sets everything up.",
        subcommands: [AMQPCommand.self, ProtocolCommand.self, LinkingCommand.self]
    )
}

struct AMQPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "amqp",
        abstract: "worker.ping through the walink worker vs raw rabbitmq-c echo responders: latency and throughput.",
        discussion: """
            Needs a RabbitMQ broker (scripts/bench starts a private one on port 5696). The worker runs in \
            this process on broker names of its own (prefix bench.<random>.), which are deleted afterwards. \
            The baseline is a raw rabbitmq-c echo that acks right after replying; a second raw echo acks \
            only once its reply is confirmed (the worker's guarantee), for comparison.
            """
    )

    @Option(help: "The broker (default: $WALINK_AMQP_URL, else amqp://guest:guest@127.0.0.1:5696/).")
    var amqpURL: String?

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

    func validate() throws {
        guard rounds > 0, latencyCalls > 0, throughputCalls > 0, inFlight > 0, bursts > 0, prefetch > 0, warmupCalls >= 0 else {
            throw ValidationError("counts must be positive")
        }
    }

    func run() async throws {
        let url = amqpURL ?? ProcessInfo.processInfo.environment["WALINK_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5696/"
        let configuration = try AMQPConfiguration(url: url)
        let options = AMQPBenchmark.Options(
            rounds: rounds, latencyCalls: latencyCalls, warmupCalls: warmupCalls,
            throughputCalls: throughputCalls, inFlight: inFlight, burstsPerRound: bursts, prefetch: prefetch
        )
        print("amqp benchmark on \(configuration.redactedURL); \(MachineInfo.summary)")
        let report = try await AMQPBenchmark.run(configuration: configuration, options: options)
        AMQPBenchmark.print(report, configuration: configuration)
        print("load average after: \(MachineInfo.loadAverage)")
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
