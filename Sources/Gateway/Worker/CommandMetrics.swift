import Metrics
import Synchronization

/// `walink_commands_total{command,status}` and `walink_command_duration{command}`. The metric
/// objects are made once per label set and kept: creating them goes through the metrics backend's
/// factory, which is not free on the hot path. One lock and one lookup by command name per command
/// (a command sees only a few statuses, found by a short scan).
final class CommandMetrics: Sendable {
    private struct PerCommand {
        let timer: Timer
        var counters: [(status: Int, counter: Counter)] = []
    }

    private let commands = Mutex<[String: PerCommand]>([:])

    func record(command: String, status: Int, duration: Duration) {
        let (counter, timer) = commands.withLock { commands -> (Counter, Timer) in
            if let known = commands[command], let counter = known.counters.first(where: { $0.status == status })?.counter {
                return (counter, known.timer)
            }
            var entry = commands[command] ?? PerCommand(timer: Timer(label: "walink_command_duration", dimensions: [("command", command)]))
            let counter = Counter(label: "walink_commands_total", dimensions: [("command", command), ("status", String(status))])
            entry.counters.append((status, counter))
            commands[command] = entry
            return (counter, entry.timer)
        }
        counter.increment()
        timer.recordNanoseconds(duration.wholeNanoseconds)
    }
}
