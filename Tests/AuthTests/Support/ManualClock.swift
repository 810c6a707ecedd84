import Foundation
import Synchronization

/// A clock the test moves by hand; the authenticator reads it for token times and key set ages.
final class ManualClock: Sendable {
    private let current: Mutex<Date>

    init(_ start: Date = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded())) {
        current = Mutex(start)
    }

    var now: Date { current.withLock { $0 } }

    /// Seconds since 1970, as JWT claims count.
    var seconds: Int { Int(now.timeIntervalSince1970) }

    func advance(by seconds: TimeInterval) {
        current.withLock { $0 += seconds }
    }

    /// The closure the authenticator takes.
    var function: @Sendable () -> Date { { self.now } }
}
