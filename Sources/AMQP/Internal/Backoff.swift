/// Capped exponential backoff with full jitter for reconnects.
struct Backoff {
    let initial: Double
    let maximum: Double
    private(set) var attempt = 0

    init(initial: Double, maximum: Double) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay before the next attempt, in seconds: random in [cap/2, cap] where cap doubles per attempt.
    mutating func nextDelay<R: RandomNumberGenerator>(using generator: inout R) -> Double {
        let cap = min(maximum, initial * Double(1 << min(attempt, 20)))
        attempt += 1
        return Double.random(in: (cap / 2)...cap, using: &generator)
    }

    mutating func nextDelay() -> Double {
        var generator = SystemRandomNumberGenerator()
        return nextDelay(using: &generator)
    }

    mutating func reset() { attempt = 0 }
}
