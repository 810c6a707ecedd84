import Foundation

/// Where the store reads the time: timestamps, lease expiry and the time part of generated ids.
/// Injectable so lease tests move time forward instead of sleeping.
public protocol StoreClock: Sendable {
    var now: Date { get }
}

/// The wall clock.
public struct SystemStoreClock: StoreClock {
    public init() {}
    public var now: Date { Date() }
}

extension Date {
    /// Milliseconds since 1970, the unit every timestamp is stored in. Rounded to the nearest
    /// millisecond, not down: `Date(storeMilliseconds: m)` holds `m / 1000` as a binary fraction,
    /// and times 1000 that can come out a hair under `m` (96 ms reads back as 95.999...), which
    /// rounding down would turn into a different millisecond.
    package var storeMilliseconds: Int64 { Int64((timeIntervalSince1970 * 1000).rounded(.toNearestOrAwayFromZero)) }

    package init(storeMilliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(storeMilliseconds) / 1000)
    }

    /// This instant as it reads back from the store (whole milliseconds).
    package var truncatedToStoreMilliseconds: Date { Date(storeMilliseconds: storeMilliseconds) }
}

/// How long the current task may wait for a store call: set by the command pipeline from a
/// command's `expiration`, so a store that stopped answering is given up in time for the caller to
/// get an answer. Stores that can abandon a call (PostgreSQL) honour the shorter of this and their
/// own timeout.
public enum StoreCallDeadline {
    @TaskLocal public static var current: ContinuousClock.Instant?

    /// The time left for a call: `default`, or less when the task's deadline comes sooner (never
    /// below a millisecond, so a call past its deadline fails at once rather than never).
    public static func limit(default limit: Duration) -> Duration {
        guard let deadline = current else { return limit }
        return max(.milliseconds(1), min(limit, deadline - .now))
    }
}
