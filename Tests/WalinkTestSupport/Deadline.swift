import Gateway

/// A bound on how long a test waits for something that signals its own completion: generous, so a
/// busy machine never fails a test that is only slow, and a hang still ends the test.
public enum Deadline {
    /// Runs `body` until it returns (true) or `limit` passes (false; `body` is then cancelled).
    public static func within(_ limit: Duration, _ body: @escaping @Sendable () async -> Void) async -> Bool {
        await withTimeLimit(limit, body)
    }

    /// `body`'s answer, or nil when `limit` passes first (`body` is then cancelled).
    public static func value<T: Sendable>(within limit: Duration, _ body: @escaping @Sendable () async -> T?) async -> T? {
        await withTimeLimit(limit, body)
    }
}
