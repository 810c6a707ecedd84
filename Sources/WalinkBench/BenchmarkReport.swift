import Foundation

/// One printed benchmark result line: a name, a value and its unit, e.g. `binary-xml decode 412.3 MB/s`.
struct BenchmarkLine: Sendable {
    var name: String
    var value: Double
    var unit: String
}

/// Monotonic wall-clock timing for benchmarks.
enum Stopwatch {
    /// Runs `body` and returns the elapsed seconds.
    static func time(_ body: () throws -> Void) rethrows -> Double {
        let clock = ContinuousClock()
        let elapsed = try clock.measure { try body() }
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}
