import Synchronization

/// The messages delivered to an ``AMQPClient``'s consumers, in arrival order, across reconnects.
///
/// Unlike an `AsyncStream`, several tasks may iterate it at once: each delivery goes to exactly one
/// of them (the one waiting longest), so a fixed set of worker tasks can share it without a task
/// per delivery. It ends (iterations get the deliveries still buffered, then nil) when
/// ``AMQPClient/finishDeliveries()`` is called or the client stops; cancelling a task waiting in
/// it ends it for every reader and drops what is buffered, as an `AsyncStream` does.
///
/// Why not `AsyncStream`: it is generic code the compiler does not specialize across modules, so
/// every element costs runtime metadata lookups, and it allows one reader only, which meant one
/// task hop into the reading loop and one new task per delivery.
public struct AMQPDeliveries: AsyncSequence, Sendable {
    public typealias Element = AMQPDelivery
    public typealias Failure = Never

    let channel: DeliveryChannel

    public struct AsyncIterator: AsyncIteratorProtocol {
        let channel: DeliveryChannel

        public mutating func next() async -> AMQPDelivery? {
            await channel.next()
        }

        /// What `for await` calls: runs where the caller runs (no hop to another executor).
        public mutating func next(isolation actor: isolated (any Actor)?) async -> AMQPDelivery? {
            await channel.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(channel: channel) }

    /// Returns once the sequence has ended (it may still hold buffered deliveries for its readers).
    public func ended() async {
        await channel.ended()
    }
}

/// The queue behind ``AMQPDeliveries``: filled by the connection thread, drained by any number of
/// tasks. Decisions are made under the lock; continuations are resumed after it.
final class DeliveryChannel: Sendable {
    private struct State {
        /// Deliveries not yet taken; the live part is `buffer[head...]` (taking one moves `head`
        /// instead of shifting the array).
        var buffer: [AMQPDelivery] = []
        var head = 0
        /// Readers waiting for a delivery, longest first.
        var waiters: [UnsafeContinuation<AMQPDelivery?, Never>] = []
        var isFinished = false
        /// Tasks waiting in ``ended()``.
        var endWaiters: [UnsafeContinuation<Void, Never>] = []

        var bufferedCount: Int { buffer.count - head }

        mutating func takeBuffered() -> AMQPDelivery? {
            guard head < buffer.count else { return nil }
            let delivery = buffer[head]
            head += 1
            if head == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                head = 0
            }
            return delivery
        }
    }

    private let state = Mutex(State())

    /// Hands deliveries to waiting readers, buffering the rest; dropped once the channel has ended.
    func yield(contentsOf deliveries: [AMQPDelivery]) {
        guard !deliveries.isEmpty else { return }
        var handed: [(UnsafeContinuation<AMQPDelivery?, Never>, AMQPDelivery)] = []
        state.withLock { state in
            guard !state.isFinished else { return }
            var index = 0
            let waiting = min(state.waiters.count, deliveries.count)
            if waiting > 0 {
                handed.reserveCapacity(waiting)
                while index < waiting {
                    handed.append((state.waiters[index], deliveries[index]))
                    index += 1
                }
                state.waiters.removeFirst(waiting)
            }
            if index < deliveries.count { state.buffer.append(contentsOf: deliveries[index...]) }
        }
        for (continuation, delivery) in handed { continuation.resume(returning: delivery) }
    }

    /// Ends the channel: readers get what is buffered, then nil.
    func finish() {
        let (waiters, endWaiters) = state.withLock { state in
            guard !state.isFinished else { return ([UnsafeContinuation<AMQPDelivery?, Never>](), [UnsafeContinuation<Void, Never>]()) }
            state.isFinished = true
            // With deliveries buffered there are no waiters; without, every waiter gets nil.
            defer {
                state.waiters.removeAll()
                state.endWaiters.removeAll()
            }
            return (state.waiters, state.endWaiters)
        }
        for waiter in waiters { waiter.resume(returning: nil) }
        for waiter in endWaiters { waiter.resume() }
    }

    /// Ends the channel at once, dropping what is buffered (a reader was cancelled).
    private func cancel() {
        state.withLock { state in
            state.buffer.removeAll()
            state.head = 0
        }
        finish()
    }

    nonisolated(nonsending) func next() async -> AMQPDelivery? {
        // Under load a delivery is often buffered already: take it without suspending.
        let ready = state.withLock { state -> AMQPDelivery?? in
            if let delivery = state.takeBuffered() { return .some(delivery) }
            if state.isFinished { return .some(nil) }
            return .none
        }
        if let ready { return ready }
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<AMQPDelivery?, Never>) in
                // Looked at again: a delivery, the end or a cancellation may have come meanwhile.
                let immediate = state.withLock { state -> AMQPDelivery?? in
                    if let delivery = state.takeBuffered() { return .some(delivery) }
                    if state.isFinished { return .some(nil) }
                    state.waiters.append(continuation)
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            self.cancel()
        }
    }

    func ended() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let finished = state.withLock { state in
                if state.isFinished { return true }
                state.endWaiters.append(continuation)
                return false
            }
            if finished { continuation.resume() }
        }
    }

    var bufferedCount: Int { state.withLock { $0.bufferedCount } }
    var waiterCount: Int { state.withLock { $0.waiters.count } }
}
