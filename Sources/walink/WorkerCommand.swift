import AMQP
import ArgumentParser
import Auth
import Gateway
import Logging
import ServiceLifecycle
import Store
import UnixSignals

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Take commands from RabbitMQ and answer them until SIGTERM or SIGINT."
    )

    @Option(help: "Broker URL (WALINK_AMQP_URL; default amqp://guest:guest@127.0.0.1:5672/).")
    var amqpURL: String?

    @Option(help: "Name in pings and the broker's connection list (WALINK_WORKER_ID; default <host>-<random>).")
    var workerID: String?

    @Option(help: "Commands handled at once (WALINK_CONCURRENCY; default 64).")
    var concurrency: Int?

    @Option(help: "Largest command body in bytes (WALINK_MAX_BODY_BYTES; default 65536).")
    var maxBodyBytes: Int?

    @Option(help: "trace, debug, info, notice, warning, error (WALINK_LOG_LEVEL; default info).")
    var logLevel: String?

    @Flag(help: "Enable diag.* commands for operational tests (WALINK_DIAGNOSTIC_COMMANDS=1).")
    var diagnosticCommands = false

    @OptionGroup var store: StoreOptions

    @Option(help: "Prefix for every broker object name, to run several deployments on one broker (WALINK_TOPOLOGY_PREFIX).")
    var topologyPrefix: String?

    func run() async throws {
        let level = try Settings.logLevel(logLevel)
        Settings.startLogging(level: level)
        let logger = Logger(label: "walink")
        let url = Settings.string(amqpURL, "WALINK_AMQP_URL", default: "amqp://guest:guest@127.0.0.1:5672/")
        let concurrency = try Settings.integer(concurrency, "WALINK_CONCURRENCY", default: 64)
        guard (1...65535).contains(concurrency) else { throw SettingsError(message: "WALINK_CONCURRENCY must be 1...65535") }
        let maxBody = try Settings.integer(maxBodyBytes, "WALINK_MAX_BODY_BYTES", default: 64 * 1024)
        guard maxBody > 0 else { throw SettingsError(message: "WALINK_MAX_BODY_BYTES must be positive") }
        let configuration = WorkerConfiguration(
            amqp: try AMQPConfiguration(url: url, environment: Settings.environment),
            workerID: Settings.string(workerID, "WALINK_WORKER_ID", default: Settings.defaultWorkerID()),
            concurrency: UInt16(concurrency),
            maxBodySize: maxBody,
            diagnosticCommands: Settings.flag(diagnosticCommands, "WALINK_DIAGNOSTIC_COMMANDS"),
            names: WalinkNames(prefix: Settings.string(topologyPrefix, "WALINK_TOPOLOGY_PREFIX", default: ""))
        )
        let store = try await store.open(logger: logger)
        let authConfiguration: AuthConfiguration
        do {
            authConfiguration = try AuthConfiguration(environment: Settings.environment)
        } catch {
            throw SettingsError(message: "authentication settings: \(error.message)")
        }
        let callers = try CallerAuthenticator(
            configuration: authConfiguration, apiKeys: StoreAPIKeyResolver(store: store), logger: logger
        )
        if callers.acceptsJWTs, await !callers.loadKeys() {
            logger.warning("The JWKS could not be loaded yet; login tokens get 503 until it can")
        }
        let openFiles = OpenFileLimit.raiseToHardLimit()
        let linking = try LinkingSettings.configuration(Settings.environment, openFiles: openFiles)
        if let openFiles, openFiles < linking.maximumConcurrentLinks + OpenFileLimit.reserve {
            logger.warning(
                "The open-file limit is below WALINK_MAX_PAIRINGS: pairings beyond it will fail to connect",
                metadata: ["walink.open_files": "\(openFiles)", "walink.max_pairings": "\(linking.maximumConcurrentLinks)"])
        }
        let worker = Worker(
            configuration: configuration, store: store, linking: linking,
            authenticator: GatewayAuthenticator(callers: callers), logger: logger
        )
        logger.info(
            "Starting walink worker",
            metadata: [
                "walink.worker": "\(configuration.workerID)", "walink.version": "\(WalinkVersion.current)",
                "amqp.url": "\(configuration.amqp.redactedURL)",
            ])
        // Reverse-order shutdown: stop consuming and answer what is in flight, end the pairings, then
        // wait for the broker's confirms and close.
        let group = ServiceGroup(services: worker.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        do {
            try await group.run()
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }
}
