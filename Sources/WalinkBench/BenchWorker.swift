import AMQP
import Foundation
import Gateway
import Logging
import ServiceLifecycle
import Store
import WhatsAppLink

/// A walink worker run in this process, as `walink worker` runs it, on broker names of its own.
struct BenchWorker: Sendable {
    let worker: Worker
    let group: ServiceGroup
    let task: Task<Void, any Error>

    var names: WalinkNames { worker.configuration.names }

    /// Starts the worker's services and waits until it is connected to the broker.
    static func start(
        configuration: WorkerConfiguration, store: any WalinkStore, linking: LinkManager.Configuration? = nil,
        authenticator: (any Authenticator)? = nil, logger: Logger
    ) async throws -> BenchWorker {
        let worker = Worker(configuration: configuration, store: store, linking: linking, authenticator: authenticator, logger: logger)
        let group = ServiceGroup(services: worker.services, logger: logger)
        let running = BenchWorker(worker: worker, group: group, task: Task { try await group.run() })
        let connected: Bool = await withTimeLimit(.seconds(30)) { () async -> Void in _ = try? await worker.amqp.waitUntilConnected() }
        guard connected, worker.amqp.isConnected else {
            await running.stop()
            throw BenchmarkError("the worker did not connect to \(configuration.amqp.redactedURL) within 30 s")
        }
        return running
    }

    /// The worker's current tenure (it needs linking enabled), waiting up to `patience` for one.
    func tenure(within patience: Duration) async throws -> WorkerTenure {
        guard let links = worker.links else { throw BenchmarkError("this worker links no sessions, so it holds no tenure") }
        guard let tenure = await withTimeLimit(patience, { await links.waitForTenure() }) else {
            throw BenchmarkError("worker \(worker.configuration.workerID) held no tenure within \(patience)")
        }
        return tenure
    }

    func cancel() { task.cancel() }

    /// Stops the worker as SIGTERM does (so its tenure is retired in the store, not cancelled on
    /// the way), cancelling it if that takes longer than 10 s, and waits for it.
    func stop() async {
        await group.triggerGracefulShutdown()
        let task = task
        let impatience = Task {
            try await Task.sleep(for: .seconds(10))
            task.cancel()
        }
        _ = try? await task.value
        impatience.cancel()
    }

    /// Deletes what the workers declared on the broker, and `extraQueues` (quorum queues are each a
    /// process of their own).
    static func deleteBrokerObjects(of workers: [BenchWorker], configuration: AMQPConfiguration, extraQueues: [String] = []) async {
        let declared = workers.map { ($0.names, $0.worker.configuration.workerID) }
        _ = await onThread(named: "walink-bench-cleanup") { () -> Bool in
            guard let connection = try? RawConnection(configuration: configuration, name: "walink-bench cleanup") else { return false }
            defer { connection.close() }
            for queue in extraQueues { try? connection.deleteQueue(queue) }
            for (names, workerID) in declared {
                for queue in [names.commandsQueue, names.deadQueue, names.workerQueue(workerID)] { try? connection.deleteQueue(queue) }
                for exchange in [
                    names.commandsExchange, names.unroutedCommandsExchange, names.eventsExchange, names.resultsExchange, names.deadExchange,
                ] {
                    try? connection.deleteExchange(exchange)
                }
            }
            return true
        }
    }
}
