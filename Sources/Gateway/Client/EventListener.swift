import AMQP
import Foundation
import Logging
import Synchronization

/// Listens to `walink.events` on a private queue and lets callers wait for a given event. For
/// `walink demo` and benchmarks; run ``run(onEvent:)`` alongside.
public final class EventListener: Sendable {
    public typealias Arrival = (event: JSONObject, received: ContinuousClock.Instant)

    private struct Waiter {
        let id: UUID
        let type: String
        let session: String
        let continuation: CheckedContinuation<Arrival?, Never>
    }

    private struct State {
        /// Events nobody waited for yet, oldest first.
        var unclaimed: [Arrival] = []
        var waiters: [Waiter] = []
        /// Waits that timed out before their waiter was registered.
        var expired: Set<UUID> = []
    }

    public let amqp: AMQPClient
    private let state = Mutex(State())

    public init(amqp configuration: AMQPConfiguration, names: WalinkNames = .standard, pattern: String = "#", logger: Logger) {
        let queue = "\(names.prefix)walink.listener.\(UUID().uuidString.lowercased())"
        amqp = AMQPClient(
            configuration: configuration,
            topology: AMQPTopology(
                exchanges: [AMQPTopology.Exchange(name: names.eventsExchange, type: "topic")],
                queues: [AMQPTopology.Queue(name: queue, durable: false, exclusive: true, autoDelete: true)],
                bindings: [AMQPTopology.Binding(queue: queue, exchange: names.eventsExchange, routingKey: pattern)]
            ),
            consumers: [AMQPConsumerSpec(queue: queue, noAck: true)],
            logger: logger
        )
    }

    /// Runs until ``shutdown()``, calling `onEvent` for every event as it arrives.
    public func run(onEvent: @Sendable (JSONObject) -> Void = { _ in }) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.amqp.run() }
            for await delivery in amqp.deliveries {
                let received = ContinuousClock.now
                guard let event = try? JSONParser.parse(delivery.body).objectValue else { continue }
                onEvent(event)
                let waiter = state.withLock { state -> Waiter? in
                    if let index = state.waiters.firstIndex(where: { Self.matches(event, $0.type, $0.session) }) {
                        return state.waiters.remove(at: index)
                    }
                    state.unclaimed.append((event, received))
                    return nil
                }
                waiter?.continuation.resume(returning: (event, received))
            }
            try await group.waitForAll()
        }
    }

    public func shutdown() async {
        await amqp.shutdown()
        let waiters = state.withLock { state in
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: nil) }
    }

    /// The next event of `type` for `session` (the earliest one not yet taken), with the time it
    /// arrived; nil after `timeout`.
    public func next(_ type: String, session: String, timeout: Duration = .seconds(90)) async -> Arrival? {
        let id = UUID()
        return await withTaskGroup(of: Arrival?.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let immediate = self.state.withLock { state -> Arrival?? in
                        if let index = state.unclaimed.firstIndex(where: { Self.matches($0.event, type, session) }) {
                            return .some(state.unclaimed.remove(at: index))
                        }
                        if state.expired.remove(id) != nil { return .some(nil) }
                        state.waiters.append(Waiter(id: id, type: type, session: session, continuation: continuation))
                        return .none
                    }
                    if let immediate { continuation.resume(returning: immediate) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            if first == nil {
                let waiter = self.state.withLock { state -> Waiter? in
                    if let index = state.waiters.firstIndex(where: { $0.id == id }) { return state.waiters.remove(at: index) }
                    state.expired.insert(id)
                    return nil
                }
                waiter?.continuation.resume(returning: nil)
            }
            return first
        }
    }

    private static func matches(_ event: JSONObject, _ type: String, _ session: String) -> Bool {
        event["type"] == .string(type) && event["session"] == .string(session)
    }
}
