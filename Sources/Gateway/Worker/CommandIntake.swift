import AMQP
import ServiceLifecycle

/// The first thing a worker stops on SIGTERM: taking commands from the shared `walink.commands`
/// (`basic.cancel`), so other workers take them, while this worker keeps consuming its own queue —
/// the commands forwarded to it for the pairings it still runs while draining.
final class CommandIntake: Service, Sendable {
    let amqp: AMQPClient
    let sharedQueue: String

    init(amqp: AMQPClient, sharedQueue: String) {
        self.amqp = amqp
        self.sharedQueue = sharedQueue
    }

    func run() async {
        do {
            try await gracefulShutdown()
        } catch {
            return  // cancelled: the whole worker is going away anyway
        }
        await amqp.stopConsuming(queue: sharedQueue)
    }
}
