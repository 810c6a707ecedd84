import AMQP
import ArgumentParser
import Auth
import Foundation
import Gateway
import Logging
import NIOPosix
import ServiceLifecycle
import Store
import WhatsAppLink
import WhatsAppProtocol
import WhatsAppSimulator

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Link two sessions against the simulator: one by QR (drawn here), one by pairing code.",
        discussion: """
            Starts a private RabbitMQ node if none answers at WALINK_AMQP_URL (with scripts/broker from this
            checkout), then the WhatsApp simulator and a worker in this process, with a throw-away store.
            Prints the events as they happen and the linked identities at the end. Everything it started is
            stopped again. QR codes are drawn with `qrencode` when it is installed (scripts/setup installs it).
            """
    )

    @Option(help: "Broker URL (WALINK_AMQP_URL; default amqp://guest:guest@127.0.0.1:5672/).")
    var amqpURL: String?

    @Option(help: "Seconds the simulated phone takes to scan or type, so you can watch.")
    var phoneDelay: Double = 3

    func run() async throws {
        Settings.startLogging(level: .warning)
        let url = Settings.string(amqpURL, "WALINK_AMQP_URL", default: "amqp://guest:guest@127.0.0.1:5672/")
        let amqp = try AMQPConfiguration(url: url, environment: Settings.environment)
        let broker = try await DemoBroker.ensure(amqp)
        defer { broker?.stop() }

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("walink-demo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let logger = Logger(label: "walink.demo")

        say("Starting the WhatsApp simulator")
        let simulator = try Simulator(
            configuration: SimulatorConfiguration(
                tls: .generated(caFilePath: directory.appendingPathComponent("sim-ca.pem").path),
                phones: [PhoneAccount(number: "15550001111", pushName: "Demo Phone")],
                demo: DemoOptions(phoneActionDelay: .milliseconds(Int64(phoneDelay * 1000)))
            ),
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger
        )
        let endpoints = try await simulator.start()

        let store = try await SQLiteStore.open(path: directory.appendingPathComponent("walink.db").path, key: .key(.random()))
        let token = try await store.createAPIKey(organization: "demo", name: "demo", permissions: ["manage"]).key
        var link = LinkConfiguration(
            url: URL(string: endpoints.webSocketURL)!, extraCAFile: endpoints.caFilePath,
            rootPublicKey: Hex.decode(endpoints.rootPublicKeyHex) ?? []
        )
        link.firstQRLifetime = .seconds(60)
        let names = WalinkNames(prefix: "demo-\(UInt32.random(in: .min ... .max)).")
        let worker = Worker(
            configuration: WorkerConfiguration(amqp: amqp, workerID: "demo-worker", names: names),
            store: store, linking: LinkManager.Configuration(link: link, drainDuration: .zero),
            authenticator: GatewayAuthenticator(
                callers: try CallerAuthenticator(configuration: AuthConfiguration(), apiKeys: StoreAPIKeyResolver(store: store))),
            logger: logger
        )
        let group = ServiceGroup(services: worker.services, logger: logger)
        let events = EventListener(amqp: amqp, names: names, logger: logger)
        let client = CommandClient(amqp: amqp, names: names, token: token, logger: logger)

        var failed = false
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask { try await events.run(onEvent: DemoDisplay.show) }
            tasks.addTask { try await client.run() }
            try await worker.amqp.waitUntilConnected()
            try await events.amqp.waitUntilConnected()
            try await client.amqp.waitUntilConnected()
            say("Worker, simulator and broker are up\n")

            do {
                try await linkByQR(client: client, events: events, simulator: simulator)
                try await linkByCode(client: client, events: events, simulator: simulator)
                say("\nLinked identities:")
                for session in ["demo-qr", "demo-code"] {
                    let me = try await client.call("session.me", ["session": .string(session)])
                    say("  \(session): \(me?.body.text ?? "no answer")")
                }
            } catch {
                FileHandle.standardError.write(Data("demo failed: \(error)\n".utf8))
                failed = true
            }
            await group.triggerGracefulShutdown()
            await events.shutdown()
            await client.shutdown()
            try await tasks.waitForAll()
        }
        await simulator.stop()
        await store.close()
        if failed { throw ExitCode(1) }
    }

    func linkByQR(client: CommandClient, events: EventListener, simulator: Simulator) async throws {
        say("1. Linking session demo-qr by QR code")
        _ = try await client.call("session.create", ["session": "demo-qr", "name": "Linked by QR"])
        guard let first = try await client.call("session.qr", ["session": "demo-qr"]) else { throw SettingsError(message: "no answer to session.qr") }
        say("   session.qr -> \(first.status) (\(first.body.objectValue?["error"]?.objectValue?["message"]?.stringValue ?? "ok"))")
        guard let qr = await events.next("auth.qr", session: "demo-qr")?.event["data"]?.objectValue?["qr"]?.stringValue else {
            throw SettingsError(message: "no auth.qr event arrived")
        }
        say("   The simulated phone scans it in \(phoneDelay) s...")
        _ = try await simulator.scan(qr: qr)
        guard await events.next("auth.paired", session: "demo-qr") != nil else { throw SettingsError(message: "no auth.paired event arrived") }
    }

    func linkByCode(client: CommandClient, events: EventListener, simulator: Simulator) async throws {
        say("\n2. Linking session demo-code by phone-number pairing code")
        _ = try await client.call("session.create", ["session": "demo-code", "name": "Linked by code"])
        let phone = simulator.defaultPhoneNumber
        guard let reply = try await client.call("session.pairing-code", ["session": "demo-code", "phone": .string(phone)]),
            let code = reply.body.objectValue?["code"]?.stringValue
        else {
            throw SettingsError(message: "session.pairing-code did not give a code")
        }
        say("   session.pairing-code -> \(reply.status): type \(code) on the phone \(phone)")
        say("   The simulated phone types it in \(phoneDelay) s...")
        _ = try await simulator.enterCode(code, phone: phone)
        guard await events.next("auth.paired", session: "demo-code") != nil else { throw SettingsError(message: "no auth.paired event arrived") }
    }
}

private func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// How the demo shows an event: one line, QR codes drawn.
enum DemoDisplay {
    static func show(_ event: JSONObject) {
        let type = event["type"]?.stringValue ?? "?"
        let session = event["session"]?.stringValue ?? "?"
        let data = event["data"]?.objectValue ?? JSONObject()
        var line = "   event \(type) [\(session)]"
        switch type {
        case "auth.qr":
            line += " seq=\(data["seq"]?.text ?? "?") expires \(data["expiresAt"]?.stringValue ?? "?")"
            say(line)
            // The code session's connection shows QR codes too; drawing them would only confuse.
            if session == "demo-qr" { drawQR(data["qr"]?.stringValue ?? "") }
            return
        case "auth.code": line += " \(data["status"]?.stringValue ?? "") \(data["code"]?.stringValue ?? "")"
        case "session.status": line += " \(data["status"]?.stringValue ?? "") \(data["detail"]?.stringValue ?? "")"
        default: line += " \(JSONValue.object(data).text)"
        }
        say(line)
    }

    /// Draws a QR code with `qrencode` (or prints the text when it is missing).
    static func drawQR(_ text: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/qrencode")
        process.arguments = ["-t", "ANSIUTF8", "-m", "1"]
        let input = Pipe()
        process.standardInput = input
        do {
            try process.run()
            input.fileHandleForWriting.write(Data(text.utf8))
            try input.fileHandleForWriting.close()
            process.waitUntilExit()
        } catch {
            say("   (install qrencode to see it drawn) \(text)")
        }
    }
}

/// A private RabbitMQ node the demo started (and stops), when none was running.
struct DemoBroker {
    let script: String
    let port: Int

    static func ensure(_ amqp: AMQPConfiguration) async throws -> DemoBroker? {
        if amqp.nodes.contains(where: { answers(host: $0.host, port: $0.port) }) { return nil }
        // A private node stands in for a lone local plain broker only; a cluster or TLS is the operator's.
        guard amqp.nodes.count == 1, !amqp.useTLS, let node = amqp.nodes.first, ["127.0.0.1", "localhost"].contains(node.host) else {
            throw SettingsError(message: "no broker answers at \(amqp.redactedURL)")
        }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let candidates = [
            URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("scripts/broker"),
            executable.deletingLastPathComponent().appendingPathComponent("../../../scripts/broker").standardizedFileURL,
            executable.deletingLastPathComponent().appendingPathComponent("../../scripts/broker").standardizedFileURL,
        ]
        guard let script = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) })?.path else {
            throw SettingsError(message: "no broker answers at \(node); start one (scripts/broker start) or run from the checkout")
        }
        say("Starting a private RabbitMQ node on port \(node.port)")
        let broker = DemoBroker(script: script, port: node.port)
        guard broker.invoke("start") == 0 else { throw SettingsError(message: "scripts/broker start failed") }
        return broker
    }

    func stop() {
        _ = invoke("stop")
    }

    private func invoke(_ verb: String) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        process.arguments = [verb]
        var environment = ProcessInfo.processInfo.environment
        environment["WALINK_BROKER_PORT"] = String(port)
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        } catch {
            return -1
        }
    }

    static func answers(host: String, port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host == "localhost" ? "127.0.0.1" : host)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
