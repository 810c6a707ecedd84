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
    var storeMilliseconds: Int64 { Int64((timeIntervalSince1970 * 1000).rounded(.toNearestOrAwayFromZero)) }

    init(storeMilliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(storeMilliseconds) / 1000)
    }

    /// This instant as it reads back from the store (whole milliseconds).
    var truncatedToStoreMilliseconds: Date { Date(storeMilliseconds: storeMilliseconds) }
}
