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

extension BenchmarkLine {
    /// `name` padded to a column, then the value and unit.
    var formatted: String {
        let label = name.count < 36 ? name + String(repeating: " ", count: 36 - name.count) : name + " "
        let number = value >= 100 ? String(format: "%.0f", value) : String(format: "%.1f", value)
        return label + String(repeating: " ", count: max(0, 10 - number.count)) + number + " " + unit
    }
}
