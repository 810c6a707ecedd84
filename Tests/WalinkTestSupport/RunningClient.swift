import AMQP

/// Runs `client` for the duration of `body`: connects first, shuts down cleanly afterwards, and
/// collects every delivery into the collector handed to `body`.
public func withRunningClient<T: Sendable>(
    _ client: AMQPClient,
    _ body: (AMQPClient, Collector<AMQPDelivery>) async throws -> T
) async throws -> T {
    let collector = Collector<AMQPDelivery>()
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await client.run() }
        group.addTask {
            for await delivery in client.deliveries { collector.append(delivery) }
        }
        do {
            try await client.waitUntilConnected()
            let result = try await body(client, collector)
            await client.shutdown()
            try await group.waitForAll()
            return result
        } catch {
            await client.shutdown()
            try? await group.waitForAll()
            throw error
        }
    }
}
