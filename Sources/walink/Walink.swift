import ArgumentParser

@main
struct Walink: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "walink",
        abstract: "The device-linking worker of the WhatsApp Gateway.",
        discussion: "Every option can also be set through the environment variable named in its help.",
        subcommands: [
            WorkerCommand.self, CallCommand.self, EventsCommand.self, APIKeyCommand.self, StoreCommand.self, SimCommand.self, DemoCommand.self,
            TopologyCommand.self,
        ]
    )
}
