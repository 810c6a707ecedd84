import AMQP
import Auth
import Foundation
import Gateway
import Logging
import NIOPosix
import ServiceLifecycle
import Store
import Synchronization
import WhatsAppLink
import WhatsAppProtocol

/// Linking through the real worker against `walink sim` running as its own process (so only the
/// worker's memory is counted): time from `session.qr` to the first `auth.qr` event, time to a
/// pairing code, and resident memory per concurrent pairing session.
enum LinkingBenchmark {
    struct Options {
        var amqp: AMQPConfiguration
        var walinkBinary: String
        var qrSamples = 40
        var codeSamples = 20
        var memorySessions = 1000
    }

    struct Report {
        var qrLatencies: [Duration] = []
        var codeLatencies: [Duration] = []
        var memorySessions = 0
        var residentBefore = 0
        var residentAfter = 0
        var activeLinks = 0
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
        link.firstQRLifetime = .seconds(900)
        let names = WalinkNames(prefix: "bench-link-\(UInt32.random(in: .min ... .max)).")
        let worker = Worker(
            configuration: WorkerConfiguration(amqp: options.amqp, workerID: "bench-linker", concurrency: 256, names: names),
            store: store, linking: LinkManager.Configuration(link: link, maximumConcurrentLinks: options.memorySessions + 100, drainDuration: .zero),
            authenticator: GatewayAuthenticator(
                callers: try CallerAuthenticator(configuration: AuthConfiguration(), apiKeys: StoreAPIKeyResolver(store: store))),
            logger: logger
        )
        let group = ServiceGroup(services: worker.services, logger: logger)
        let client = CommandClient(amqp: options.amqp, names: names, token: token, logger: logger)
        let events = EventListener(amqp: options.amqp, names: names, pattern: "*.*.auth.qr", logger: logger)

        var report = Report()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask { try await client.run() }
            tasks.addTask { try await events.run() }
            try await worker.amqp.waitUntilConnected()
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
            report.residentAfter = residentBytes()
            report.activeLinks = worker.links?.activeCount ?? 0

            await group.triggerGracefulShutdown()
            await client.shutdown()
            await events.shutdown()
            try await tasks.waitForAll()
        }
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
        let perSession = Double(report.residentAfter - report.residentBefore) / Double(max(1, report.memorySessions)) / 1024
        Swift.print(
            String(
                format:
                    "resident memory per pairing session: %.1f KiB  (%d sessions waiting for a scan; worker RSS %.1f -> %.1f MiB; goal < 100 KiB, whatsapp-rust quotes ~530 KiB)",
                perSession, report.memorySessions, Double(report.residentBefore) / 1_048_576, Double(report.residentAfter) / 1_048_576))
        Swift.print("pairings running in the worker at the measurement: \(report.activeLinks)")
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
            "sim", "--state-dir", stateDirectory, "--port", "0", "--control-port", "0", "--first-ref-seconds", "900",
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

    func stop() {
        if process.isRunning {
            process.interrupt()
            process.waitUntilExit()
        }
    }
}
