import ArgumentParser
import Gateway

struct TopologyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topology",
        abstract: "Print the broker topology as RabbitMQ definitions (deploy/rabbitmq/definitions.json)."
    )

    func run() async throws {
        let names = CommandCatalog.names
        print(WalinkTopology.definitions(commandNames: names).prettyText)
    }
}
