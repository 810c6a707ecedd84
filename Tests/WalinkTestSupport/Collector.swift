import Synchronization

/// Collects the elements of an async sequence in the background so a test can wait, with a
/// deadline, until some condition on what arrived holds.
public final class Collector<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var waiters: [(id: Int, predicate: @Sendable ([Element]) -> Bool, continuation: CheckedContinuation<Bool, Never>)] = []
        var nextID = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Everything collected so far.
    public var items: [Element] { state.withLock { $0.items } }

    public func append(_ item: Element) {
        let ready = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.items.append(item)
            var ready: [CheckedContinuation<Bool, Never>] = []
            state.waiters.removeAll { waiter in
                guard waiter.predicate(state.items) else { return false }
                ready.append(waiter.continuation)
                return true
            }
            return ready
        }
        for continuation in ready { continuation.resume(returning: true) }
    }

    /// Waits until `predicate` holds for the collected items; returns them, or nil after `timeout`.
    public func wait(
        timeout: Duration = .seconds(60),
        until predicate: @escaping @Sendable ([Element]) -> Bool
    ) async -> [Element]? {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        let satisfied = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let now = self.state.withLock { state -> Bool in
                        if predicate(state.items) { return true }
                        state.waiters.append((id, predicate, continuation))
                        return false
                    }
                    if now { continuation.resume(returning: true) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                let continuation = self.state.withLock { state -> CheckedContinuation<Bool, Never>? in
                    guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return state.waiters.remove(at: index).continuation
                }
                continuation?.resume(returning: false)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        return satisfied ? items : nil
    }

    /// Waits until at least `count` items arrived.
    public func wait(count: Int, timeout: Duration = .seconds(60)) async -> [Element]? {
        await wait(timeout: timeout) { $0.count >= count }
    }
}
