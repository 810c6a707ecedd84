import Metrics
import Synchronization

/// `walink_commands_total{command,status}` and `walink_command_duration{command}`. The metric
/// objects are made once per label set and kept: creating them goes through the metrics backend's
/// factory, which is not free on the hot path.
final class CommandMetrics: Sendable {
    private struct CounterKey: Hashable {
        var command: String
        var status: Int
    }

    private let counters = Mutex<[CounterKey: Counter]>([:])
    private let timers = Mutex<[String: Timer]>([:])

    func record(command: String, status: Int, duration: Duration) {
        let key = CounterKey(command: command, status: status)
        let counter = counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: "walink_commands_total", dimensions: [("command", command), ("status", String(status))])
            counters[key] = counter
            return counter
        }
        counter.increment()
        let timer = timers.withLock { timers in
            if let timer = timers[command] { return timer }
            let timer = Timer(label: "walink_command_duration", dimensions: [("command", command)])
            timers[command] = timer
            return timer
        }
        timer.recordNanoseconds(duration.wholeNanoseconds)
    }
}
