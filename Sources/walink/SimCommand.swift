import ArgumentParser
import Foundation
import Gateway
import Logging
import NIOPosix
import WhatsAppProtocol
import WhatsAppSimulator

struct SimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run the WhatsApp server-and-phone simulator (TLS WebSocket, Noise with its own test root key).",
        discussion: """
            Prints the settings a worker needs (WALINK_WA_URL, WALINK_WA_CA_FILE, WALINK_WA_ROOT_KEY) and serves
            a control API: GET /control/status, POST /control/scan {"qr"}, POST /control/code {"code","phone"},
            POST /control/faults {...}. Keys and certificates are kept in --state-dir, so a worker configured
            once keeps working across simulator restarts.
            """
    )

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "WebSocket port (wss://HOST:PORT/ws/chat).")
    var port = 8443

    @Option(help: "Control API port (http://HOST:PORT/control/...).")
    var controlPort = 8444

    @Option(help: "Where the root key, CA and server certificate are kept (created on first run).")
    var stateDir = "walink-sim"

    @Option(help: "The simulated phone's number (international digits).")
    var phone = "15550001111"

    @Option(help: "QR refs per connection.")
    var refs = 6

    @Option(help: "Seconds the first QR ref lives.")
    var firstRefSeconds: Double = 60

    @Option(help: "Seconds each later QR ref lives.")
    var nextRefSeconds: Double = 20

    @Option(help: "Seconds the phone waits before acting (a person picking up the phone), for demos.")
    var phoneDelay: Double = 0

    func run() async throws {
        Settings.startLogging(level: .info)
        // The simulator holds a socket per companion connected to it: thousands in benchmarks.
        OpenFileLimit.raiseToHardLimit()
        let state = try SimulatorState.load(directory: stateDir, host: host)
        let simulator = try Simulator(
            configuration: SimulatorConfiguration(
                host: host, port: port, controlPort: controlPort, tls: state.tls, rootPrivateKeyHex: state.rootPrivateKeyHex,
                refsCount: refs, firstRefLifetime: .milliseconds(Int64(firstRefSeconds * 1000)),
                laterRefLifetime: .milliseconds(Int64(nextRefSeconds * 1000)),
                phones: [PhoneAccount(number: phone)], demo: DemoOptions(phoneActionDelay: .milliseconds(Int64(phoneDelay * 1000)))
            ),
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: Logger(label: "walink.sim")
        )
        let endpoints = try await simulator.start()
        FileHandle.standardOutput.write(
            Data(
                """
                WhatsApp simulator listening. Configure workers with:
                  export WALINK_WA_URL=\(endpoints.webSocketURL)
                  export WALINK_WA_CA_FILE=\(endpoints.caFilePath ?? "")
                  export WALINK_WA_ROOT_KEY=\(endpoints.rootPublicKeyHex)
                Control API: \(endpoints.controlURL ?? "off") (status, scan, code, faults)
                Phone: \(phone)\n
                """.utf8))
        try await simulator.run()
    }
}

/// The simulator's persistent keys: a Noise root key and TLS files, created once in a directory.
struct SimulatorState {
    var rootPrivateKeyHex: String
    var tls: TLSMode

    static func load(directory relative: String, host: String) throws -> SimulatorState {
        let manager = FileManager.default
        let directory = URL(fileURLWithPath: relative).standardizedFileURL.path
        try manager.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let rootFile = (directory as NSString).appendingPathComponent("root-key.hex")
        let rootHex: String
        if let existing = try? String(contentsOfFile: rootFile, encoding: .utf8) {
            rootHex = existing.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            rootHex = Hex.encode(KeyPair.generate().privateKey)
            guard manager.createFile(atPath: rootFile, contents: Data(rootHex.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw SettingsError(message: "cannot write \(rootFile)")
            }
        }
        let certificate = (directory as NSString).appendingPathComponent("server.pem")
        let key = (directory as NSString).appendingPathComponent("server-key.pem")
        let ca = (directory as NSString).appendingPathComponent("ca.pem")
        if manager.fileExists(atPath: certificate), manager.fileExists(atPath: key), manager.fileExists(atPath: ca) {
            return SimulatorState(
                rootPrivateKeyHex: rootHex,
                tls: .files(certificateChainPath: certificate, privateKeyPath: key, caFilePath: ca)
            )
        }
        let tls = try SimulatorCertificates.generate(host: host).write(to: directory)
        return SimulatorState(rootPrivateKeyHex: rootHex, tls: tls)
    }
}
