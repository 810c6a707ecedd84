import AMQP
import ArgumentParser
import Foundation
import Gateway

struct LinkingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "linking",
        abstract: "Pairing through the worker against `walink sim`: QR and pairing-code latency, memory per pairing session.",
        discussion: """
            Needs a RabbitMQ broker (scripts/bench starts one) and the walink program built next to walink-bench \
            (scripts/bench builds both in release mode). The simulator runs as its own process so that only the \
            worker's memory is measured.
            """
    )

    @OptionGroup var broker: BrokerOption

    @Option(help: "Sessions waiting for a scan at once for the memory and CPU measurements.")
    var sessions = 10_000

    @Option(help: "Seconds over which the worker's CPU is measured while the sessions wait.")
    var idleSeconds = 30

    @Option(help: "session.qr samples.")
    var qrSamples = 40

    @Option(help: "session.pairing-code samples.")
    var codeSamples = 20

    func run() async throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("walink").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw BenchmarkError("build walink next to walink-bench first (swift build -c release)")
        }
        var options = LinkingBenchmark.Options(
            amqp: try broker.configuration(), walinkBinary: binary)
        options.memorySessions = sessions
        options.idleWindow = .seconds(idleSeconds)
        // A socket per session, in this process and in the simulator's.
        if let openFiles = OpenFileLimit.raiseToHardLimit(), openFiles < sessions + OpenFileLimit.reserve + 100 {
            throw BenchmarkError("\(sessions) sessions need more open files than the limit of \(openFiles) (ulimit -Hn)")
        }
        options.qrSamples = qrSamples
        options.codeSamples = codeSamples
        print("linking benchmark against walink sim; \(ProcessInfo.processInfo.activeProcessorCount) CPUs")
        let report = try await LinkingBenchmark.run(options)
        LinkingBenchmark.print(report)
    }
}
