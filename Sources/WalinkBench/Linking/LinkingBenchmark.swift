import AMQP
import Auth
import Foundation
import Gateway
import Logging
import NIOPosix
import Store
import Synchronization
import WhatsAppLink
import WhatsAppProtocol

/// Linking through the real worker against `walink sim` running as its own process (so only the
/// worker's memory and CPU are counted): time from `session.qr` to the first `auth.qr` event, time
/// to a pairing code, then many sessions waiting for a scan at once (10,000 by default, ref
/// lifetimes long enough that none times out): resident memory per waiting session, the worker's
/// CPU while they wait, and `session.qr` → `auth.qr` for new sessions meanwhile.
enum LinkingBenchmark {
    struct Options {
        var amqp: AMQPConfiguration
        var walinkBinary: String
        var qrSamples = 40
        var codeSamples = 20
        var memorySessions = 10_000
        /// How long the worker's CPU is measured while the sessions wait.
        var idleWindow: Duration = .seconds(30)
    }

    struct Report {
        var qrLatencies: [Duration] = []
        var codeLatencies: [Duration] = []
        var memorySessions = 0
        var residentBefore = 0
        var residentAfter = 0
        var activeLinks = 0
        var startDuration: Duration = .zero
        /// CPU seconds the benchmark process (worker, caller, event listener) used in the window.
        var idleCPU: Duration = .zero
        var idleWindow: Duration = .zero
        var simulatorIdleCPU: Duration = .zero
        var loadedQRLatencies: [Duration] = []
    }

    static func run(_ options: Options) async throws -> Report {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("walink-bench-linking-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var logger = Logger(label: "walink.bench.linking")
        logger.logLevel = .error

        let simulator = try await SimulatorProcess.start(binary: options.walinkBinary, stateDirectory: directory.appendingPathComponent("sim").path)
        defer { simulator.stop() }

        let store = try await SQLiteStore.open(path: directory.appendingPathComponent("walink.db").path, key: .key(.random()))
        let token = try await store.createAPIKey(organization: "bench", name: nil, permissions: ["manage"]).key
        var link = LinkConfiguration(url: simulator.url, extraCAFile: simulator.caFile, rootPublicKey: simulator.rootKey)
        // No ref may run out while the sessions wait: a rotation would be work the numbers do not intend.
        link.firstQRLifetime = .seconds(3600)
        let names = WalinkNames(prefix: "bench-link-\(UInt32.random(in: .min ... .max)).")
        let worker = try await BenchWorker.start(
            configuration: WorkerConfiguration(amqp: options.amqp, workerID: "bench-linker", concurrency: 256, names: names),
            store: store, linking: LinkManager.Configuration(link: link, maximumConcurrentLinks: options.memorySessions + 100, drainDuration: .zero),
            authenticator: GatewayAuthenticator(
                callers: try CallerAuthenticator(configuration: AuthConfiguration(), apiKeys: StoreAPIKeyResolver(store: store))),
            logger: logger
        )
        let client = CommandClient(amqp: options.amqp, names: names, token: token, logger: logger)
        let events = EventListener(amqp: options.amqp, names: names, pattern: "*.*.auth.qr", logger: logger)

        var report = Report()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await client.run() }
            tasks.addTask { try await events.run() }
            try await client.amqp.waitUntilConnected()
            try await events.amqp.waitUntilConnected()

            // Warm up: TLS context, first allocations, caches.
            for index in 0..<3 { _ = try await qrLatency(session: "warm-\(index)", client: client, events: events) }

            for index in 0..<options.qrSamples {
                report.qrLatencies.append(try await qrLatency(session: "qr-\(index)", client: client, events: events))
            }
            for index in 0..<options.codeSamples {
                report.codeLatencies.append(try await codeLatency(session: "code-\(index)", phone: String(15_550_100_000 + index), client: client))
            }

            report.memorySessions = options.memorySessions
            report.residentBefore = residentBytes()
            let startsBegan = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { starts in
                // Batches, so 1,000 TLS handshakes don't all wait on the same CPU at once.
                for batch in stride(from: 0, to: options.memorySessions, by: 50) {
                    for index in batch..<min(batch + 50, options.memorySessions) {
                        starts.addTask {
                            let session = "mem-\(index)"
                            _ = try await client.call("session.create", ["session": .string(session)])
                            _ = try await client.call("session.qr", ["session": .string(session)])
                            guard await events.next("auth.qr", session: session, timeout: .seconds(300)) != nil else {
                                throw BenchmarkError("no QR for \(session)")
                            }
                        }
                    }
                    try await starts.waitForAll()
                }
            }
            report.startDuration = ContinuousClock.now - startsBegan
            report.residentAfter = residentBytes()
            report.activeLinks = worker.worker.links?.activeCount ?? 0

            // The sessions wait for a scan: keepalives and the worker's lease renewals are all the
            // work there is. The window is a measurement period, not a wait for anything.
            let cpuBefore = processCPU()
            let simulatorBefore = simulator.cpuTime()
            let windowBegan = ContinuousClock.now
            try await Task.sleep(for: options.idleWindow)
            report.idleWindow = ContinuousClock.now - windowBegan
            report.idleCPU = processCPU() - cpuBefore
            report.simulatorIdleCPU = simulator.cpuTime() - simulatorBefore

            for index in 0..<options.qrSamples {
                report.loadedQRLatencies.append(try await qrLatency(session: "loaded-qr-\(index)", client: client, events: events))
            }

            await worker.stop()
            await client.shutdown()
            await events.shutdown()
            try await tasks.waitForAll()
        }
        await BenchWorker.deleteBrokerObjects(of: [worker], configuration: options.amqp)
        await store.close()
        return report
    }

    /// `session.qr` on a new session until its first `auth.qr` event arrives.
    static func qrLatency(session: String, client: CommandClient, events: EventListener) async throws -> Duration {
        _ = try await client.call("session.create", ["session": .string(session)])
        let started = ContinuousClock.now
        guard try await client.call("session.qr", ["session": .string(session)])?.status == 404,
            let arrival = await events.next("auth.qr", session: session)
        else { throw BenchmarkError("no QR for \(session)") }
        _ = try await client.call("session.delete", ["session": .string(session)])
        return arrival.received - started
    }

    /// `session.pairing-code` on a new session until the answer (WhatsApp accepted the code).
    static func codeLatency(session: String, phone: String, client: CommandClient) async throws -> Duration {
        _ = try await client.call("session.create", ["session": .string(session)])
        let started = ContinuousClock.now
        guard let answer = try await client.call("session.pairing-code", ["session": .string(session), "phone": .string(phone)]),
            answer.status == 200
        else { throw BenchmarkError("no pairing code for \(session)") }
        let elapsed = ContinuousClock.now - started
        _ = try await client.call("session.delete", ["session": .string(session)])
        return elapsed
    }

    /// User and system CPU time of this process.
    static func processCPU() -> Duration {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func duration(_ time: timeval) -> Duration { .seconds(time.tv_sec) + .microseconds(time.tv_usec) }
        return duration(usage.ru_utime) + duration(usage.ru_stime)
    }

    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return (fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func print(_ report: Report) {
        func milliseconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        }
        func percentile(_ values: [Duration], _ fraction: Double) -> Double {
            let sorted = values.map(milliseconds).sorted()
            guard !sorted.isEmpty else { return .nan }
            return sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)]
        }
        Swift.print(
            String(
                format: "session.qr -> first auth.qr      p50 %7.1f ms   p99 %7.1f ms   (n=%d)", percentile(report.qrLatencies, 0.5),
                percentile(report.qrLatencies, 0.99), report.qrLatencies.count))
        Swift.print(
            String(
                format: "session.pairing-code -> code     p50 %7.1f ms   p99 %7.1f ms   (n=%d)", percentile(report.codeLatencies, 0.5),
                percentile(report.codeLatencies, 0.99), report.codeLatencies.count))
        Swift.print(
            String(
                format: "%d sessions started and showing a QR in %.1f s; %d pairings running in the worker", report.memorySessions,
                milliseconds(report.startDuration) / 1000, report.activeLinks))
        let perSession = Double(report.residentAfter - report.residentBefore) / Double(max(1, report.memorySessions)) / 1024
        Swift.print(
            String(
                format: "resident memory per waiting session: %.1f KiB  (worker RSS %.1f -> %.1f MiB; goal <= 80 KiB: %@)",
                perSession, Double(report.residentBefore) / 1_048_576, Double(report.residentAfter) / 1_048_576, perSession <= 80 ? "met" : "MISSED"))
        let cpuShare = milliseconds(report.idleCPU) / max(1, milliseconds(report.idleWindow)) * 100
        Swift.print(
            String(
                format: "worker CPU while they wait: %.1f%% of one core over %.0f s  (simulator %.1f%%; goal <= 10%%: %@)", cpuShare,
                milliseconds(report.idleWindow) / 1000, milliseconds(report.simulatorIdleCPU) / max(1, milliseconds(report.idleWindow)) * 100,
                cpuShare <= 10 ? "met" : "MISSED"))
        let loadedP99 = percentile(report.loadedQRLatencies, 0.99)
        Swift.print(
            String(
                format: "session.qr -> first auth.qr meanwhile  p50 %7.1f ms   p99 %7.1f ms   (n=%d; goal p99 <= 50 ms: %@)",
                percentile(report.loadedQRLatencies, 0.5), loadedP99, report.loadedQRLatencies.count, loadedP99 <= 50 ? "met" : "MISSED"))
    }
}

/// `walink sim` as a child process, on free ports, with its settings read from what it prints.
final class SimulatorProcess: Sendable {
    let process: Process
    let url: URL
    let caFile: String
    let rootKey: [UInt8]

    private init(process: Process, url: URL, caFile: String, rootKey: [UInt8]) {
        self.process = process
        self.url = url
        self.caFile = caFile
        self.rootKey = rootKey
    }

    static func start(binary: String, stateDirectory: String) async throws -> SimulatorProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "sim", "--state-dir", stateDirectory, "--port", "0", "--control-port", "0", "--first-ref-seconds", "3600",
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        let lines = Mutex<[String]>([])
        let (ready, readyContinuation) = AsyncStream.makeStream(of: Void.self)
        output.fileHandleForReading.readabilityHandler = { handle in
            let text = String(decoding: handle.availableData, as: UTF8.self)
            let complete = lines.withLock { lines -> Bool in
                lines += text.split(separator: "\n").map(String.init)
                return lines.contains { $0.hasPrefix("Control API:") }
            }
            if complete { readyContinuation.yield() }
            if text.isEmpty { readyContinuation.finish() }
        }
        try process.run()
        for await _ in ready { break }
        output.fileHandleForReading.readabilityHandler = nil
        let printed = lines.withLock { $0 }
        func value(_ prefix: String) -> String? {
            printed.first { $0.contains(prefix) }.map { String($0.split(separator: "=", maxSplits: 1).last ?? "") }
        }
        guard let urlText = value("WALINK_WA_URL="), let url = URL(string: urlText), let caFile = value("WALINK_WA_CA_FILE="),
            let rootHex = value("WALINK_WA_ROOT_KEY="), let rootKey = Hex.decode(rootHex), rootKey.count == 32
        else {
            process.terminate()
            throw BenchmarkError("walink sim did not start: \(printed.joined(separator: "\n"))")
        }
        return SimulatorProcess(process: process, url: url, caFile: caFile, rootKey: rootKey)
    }

    /// The simulator's user and system CPU time so far, from /proc.
    func cpuTime() -> Duration {
        guard let text = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
            let end = text.lastIndex(of: ")")
        else { return .zero }
        // Fields after the command name: state is the 3rd field of the line, utime the 14th, stime the 15th.
        let fields = text[text.index(after: end)...].split(separator: " ")
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return .zero }
        let ticks = Int(sysconf(Int32(_SC_CLK_TCK)))
        return .milliseconds((user + system) * 1000 / max(1, ticks))
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}
