import Foundation
import Logging
import Synchronization

/// The frontend's key set as last fetched. It is fetched when first needed, again once it is
/// older than the refresh interval, and again when a token names a `kid` it does not have (the
/// frontend rotated its keys). Fetches are at least `minimumFetchInterval` apart whatever their
/// reason, so tokens with made-up `kid`s cannot make us hammer the frontend; callers that need a
/// fetch while one is running wait for it instead of starting another. A failed fetch keeps the
/// keys we have.
final class JWKSCache: Sendable {
    private struct State {
        var keys: JSONWebKeySet?
        var fetchedAt: Date?
        var lastAttempt: Date?
        var fetching = false
        var waiters: [CheckedContinuation<JSONWebKeySet?, Never>] = []
    }

    private enum Decision {
        case use(JSONWebKeySet?)
        case wait
        case fetch
    }

    private let fetcher: any JWKSFetching
    private let refreshInterval: TimeInterval
    private let minimumFetchInterval: TimeInterval
    private let now: @Sendable () -> Date
    private let logger: Logger
    private let state = Mutex(State())

    init(
        fetcher: any JWKSFetching,
        refreshInterval: Duration,
        minimumFetchInterval: Duration,
        now: @escaping @Sendable () -> Date,
        logger: Logger
    ) {
        self.fetcher = fetcher
        self.refreshInterval = refreshInterval.timeInterval
        self.minimumFetchInterval = minimumFetchInterval.timeInterval
        self.now = now
        self.logger = logger
    }

    /// The keys to verify with, fetched first when there are none yet or they are stale (and the
    /// last attempt is not too recent). `nil` only when no fetch has ever succeeded.
    func current() async -> JSONWebKeySet? {
        await keys { state, now in
            if let keys = state.keys, let fetchedAt = state.fetchedAt,
                now.timeIntervalSince(fetchedAt) < self.refreshInterval
            {
                return .use(keys)
            }
            return self.fetchUnlessTooSoon(state, now)
        }
    }

    /// The keys after one more fetch, for a token whose `kid` was not found, unless a fetch was
    /// attempted less than `minimumFetchInterval` ago (then the keys we have, which another
    /// caller's fetch may just have renewed).
    func refetch() async -> JSONWebKeySet? {
        await keys { state, now in self.fetchUnlessTooSoon(state, now) }
    }

    /// Callers parked on the running fetch (for tests).
    var waiterCount: Int { state.withLock { $0.waiters.count } }

    private func fetchUnlessTooSoon(_ state: State, _ now: Date) -> Decision {
        if state.fetching { return .wait }
        if let lastAttempt = state.lastAttempt, now.timeIntervalSince(lastAttempt) < minimumFetchInterval {
            return .use(state.keys)
        }
        return .fetch
    }

    private func keys(_ decide: (State, Date) -> Decision) async -> JSONWebKeySet? {
        let now = self.now()
        let decision = state.withLock { state -> Decision in
            let decision = decide(state, now)
            if case .fetch = decision {
                state.fetching = true
                state.lastAttempt = now
            }
            return decision
        }
        switch decision {
        case .use(let keys):
            return keys
        case .wait:
            return await withCheckedContinuation { continuation in
                let finished = state.withLock { state -> JSONWebKeySet?? in
                    guard state.fetching else { return .some(state.keys) }
                    state.waiters.append(continuation)
                    return .none
                }
                if let keys = finished { continuation.resume(returning: keys) }
            }
        case .fetch:
            let fetched = await load()
            let (keys, waiters) = state.withLock { state in
                if let fetched {
                    state.keys = fetched
                    state.fetchedAt = self.now()
                }
                state.fetching = false
                defer { state.waiters = [] }
                return (state.keys, state.waiters)
            }
            for waiter in waiters { waiter.resume(returning: keys) }
            return keys
        }
    }

    /// One fetch and parse; `nil` (logged) when either fails.
    private func load() async -> JSONWebKeySet? {
        do {
            let document = try await fetcher.fetch()
            let (keys, skipped) = try JSONWebKeySet.parse(document)
            for reason in skipped {
                logger.debug("JWKS member skipped", metadata: ["reason": "\(reason)"])
            }
            logger.info(
                "JWKS loaded",
                metadata: ["keys": "\(keys.keys.count)", "kids": "\(keys.keys.compactMap(\.id).joined(separator: ","))"]
            )
            return keys
        } catch is JSONWebKeySet.Malformed {
            logger.warning("JWKS fetch failed; keeping the keys we have", metadata: ["reason": "not a JWKS document"])
        } catch {
            logger.warning("JWKS fetch failed; keeping the keys we have", metadata: ["reason": "\(error)"])
        }
        return nil
    }
}
