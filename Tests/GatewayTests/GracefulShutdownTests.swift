import AMQP
import Foundation
import Gateway
import Synchronization
import Testing
import WalinkTestSupport

/// The real `walink worker` program and SIGTERM.
@Suite(.timeLimit(.minutes(5))) struct GracefulShutdownTests {
    /// The built program, next to the test bundle.
    static var walinkBinary: URL {
        if let path = ProcessInfo.processInfo.environment["WALINK_TEST_BINARY"] { return URL(fileURLWithPath: path) }
        return Bundle.main.bundleURL.appendingPathComponent("walink")
    }

    @Test func sigtermAnswersTheCommandInFlightAndLosesNothing() async throws {
        let names = WalinkNames(prefix: TestBroker.uniqueName("t") + ".")
        let process = Process()
        process.executableURL = Self.walinkBinary
        process.arguments = ["worker"]
        var environment = ProcessInfo.processInfo.environment
        environment["WALINK_AMQP_URL"] = TestBroker.url
        environment["WALINK_TOPOLOGY_PREFIX"] = names.prefix
        environment["WALINK_DIAGNOSTIC_COMMANDS"] = "1"
        environment["WALINK_LOG_LEVEL"] = "debug"
        environment["WALINK_WORKER_ID"] = "sigterm-test"
        process.environment = environment
        let errorOutput = Pipe()
        process.standardError = errorOutput
        process.standardOutput = FileHandle.nullDevice
        let log = Collector<String>()
        errorOutput.fileHandleForReading.readabilityHandler = { handle in
            let text = String(decoding: handle.availableData, as: UTF8.self)
            for line in text.split(separator: "\n") { log.append(String(line)) }
        }
        let exited = Collector<Int32>()
        process.terminationHandler = { exited.append($0.terminationStatus) }
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        let caller = try TestCaller(names: names)
        // The worker has declared its topology and consumes once it logs the connection; the
        // deadlines are generous because a busy machine starts a debug build slowly, and waiting
        // longer costs nothing when it is quick.
        #expect(await log.wait(timeout: .seconds(120)) { $0.contains { $0.contains("AMQP connected") } } != nil)
        let ping = try await caller.reply(to: try await caller.send("worker.ping"), timeout: .seconds(60))
        #expect(ping.body.objectValue?["worker"] == "sigterm-test")

        // A slow command; SIGTERM once the worker has started it.
        let slow = try await caller.send("diag.sleep", body: Array("{\"ms\":1500}".utf8), correlationID: "in-flight")
        #expect(await log.wait(timeout: .seconds(60)) { $0.contains { $0.contains("Command started") && $0.contains("in-flight") } } != nil)
        kill(process.processIdentifier, SIGTERM)
        #expect(await log.wait(timeout: .seconds(60)) { $0.contains { $0.contains("Worker stopping") } } != nil)
        // Sent once the worker stopped taking commands: must stay queued for the next worker.
        let late = try await caller.send("worker.ping", correlationID: "after-sigterm")

        let reply = try await caller.reply(to: slow, timeout: .seconds(60))
        #expect(reply.status == 200)
        #expect(reply.body.objectValue?["slept"] == 1500)
        let status = try #require(await exited.wait(count: 1, timeout: .seconds(60))).first
        #expect(status == 0)

        let successor = try await TestWorker.start(names: names)
        let lateReply = try await caller.reply(to: late, timeout: .seconds(60))
        #expect(lateReply.status == 200)
        #expect(lateReply.body.objectValue?["worker"] == "test-worker")
        await successor.stop()
        await caller.close()
    }
}
