import AMQP
import ArgumentParser
import Foundation

/// `--amqp-url`, shared by the benchmarks that need a broker.
struct BrokerOption: ParsableArguments {
    @Option(help: "The broker (default: $WALINK_AMQP_URL, else amqp://guest:guest@127.0.0.1:5696/, where scripts/bench starts one).")
    var amqpURL: String?

    func configuration() throws -> AMQPConfiguration {
        let environment = ProcessInfo.processInfo.environment
        return try AMQPConfiguration(
            url: amqpURL ?? environment["WALINK_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5696/", environment: environment)
    }
}
