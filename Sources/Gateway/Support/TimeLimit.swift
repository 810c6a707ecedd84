/// Waits for `body` for at most `limit`: true when it returned, false when the time ran out first
/// (`body` is then cancelled). For waits that end by themselves (a drain, a registration) where
/// waiting forever is never right.
public func withTimeLimit(_ limit: Duration, _ body: @escaping @Sendable () async -> Void) async -> Bool {
    await withTimeLimit(limit) { () async -> Bool? in
        await body()
        return true
    } ?? false
}

/// `body`'s answer, or nil when `limit` passes first (`body` is then cancelled).
public func withTimeLimit<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async -> T?) async -> T? {
    await withTaskGroup(of: T?.self) { group in
        group.addTask { await body() }
        group.addTask {
            try? await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        return await group.next() ?? nil
    }
}
