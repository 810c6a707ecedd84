import Foundation
import Synchronization

/// The built `walink` program running beside the test (from `WALINK_TEST_BINARY`, else next to the
/// test bundle), with the lines it writes to standard error collected as they arrive. A worker in a
/// process of its own is what production runs: nothing the test process does (other tests keeping
/// its threads busy) holds it up.
public final class WalinkProcess: Sendable {
    /// One line of the program's log, and when the test read it.
    public struct Line: Sendable {
        public let arrived: Date
        public let text: String
    }

    public let log = Collector<Line>()
    public let exits = Collector<Int32>()
    private let process: Mutex<Process>

    /// `namespace`: run it inside that network namespace (`ip netns exec`, which execs the program, so
    /// ``processIdentifier`` is walink's own).
    public init(_ arguments: [String], environment extra: [String: String], namespace: String? = nil) throws {
        let process = Process()
        let binary =
            ProcessInfo.processInfo.environment["WALINK_TEST_BINARY"].map { URL(fileURLWithPath: $0) }
            ?? Bundle.main.bundleURL.appendingPathComponent("walink")
        if let namespace {
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            process.arguments = ["netns", "exec", namespace, binary.path] + arguments
        } else {
            process.executableURL = binary
            process.arguments = arguments
        }
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in extra { environment[key] = value }
        process.environment = environment
        let errorOutput = Pipe()
        process.standardError = errorOutput
        process.standardOutput = FileHandle.nullDevice
        let log = log
        let partial = Mutex("")
        errorOutput.fileHandleForReading.readabilityHandler = { handle in
            let text = String(decoding: handle.availableData, as: UTF8.self)
            let arrived = Date()
            // A read may end mid-line: keep the rest for the next one.
            let lines = partial.withLock { rest -> [Substring] in
                var pieces = (rest + text).split(separator: "\n", omittingEmptySubsequences: false)
                rest = String(pieces.removeLast())
                return pieces
            }
            for line in lines where !line.isEmpty { log.append(Line(arrived: arrived, text: String(line))) }
        }
        let exits = exits
        process.terminationHandler = { exits.append($0.terminationStatus) }
        try process.run()
        self.process = Mutex(process)
    }

    public var processIdentifier: Int32 { process.withLock { $0.processIdentifier } }

    /// The first log line containing `text`, waiting up to `timeout`.
    public func line(containing text: String, timeout: Duration = .seconds(120)) async -> Line? {
        await log.wait(timeout: timeout) { $0.contains { $0.text.contains(text) } }?.first { $0.text.contains(text) }
    }

    /// SIGTERM, then the exit status (nil if it did not exit within `timeout`).
    public func terminate(timeout: Duration = .seconds(120)) async -> Int32? {
        kill(processIdentifier, SIGTERM)
        return await exits.wait(count: 1, timeout: timeout)?.first
    }

    deinit {
        process.withLock { if $0.isRunning { $0.terminate() } }
    }
}
