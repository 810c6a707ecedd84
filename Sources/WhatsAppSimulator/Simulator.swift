import Foundation
import Logging
import NIOCore
import Synchronization

/// A local WhatsApp server and phone, for tests, benchmarks and `walink demo`: it speaks the real
/// linking protocol (TLS WebSocket, Noise XX with a certificate chain under its own root, binary XML)
/// and plays the phone that scans QR codes and types pairing codes.
///
/// ```swift
/// let simulator = try Simulator(configuration: .init(), eventLoopGroup: group, logger: logger)
/// let endpoints = try await simulator.start()   // wss URL, CA file, root key for the companion
/// ...companion connects and shows a QR...
/// let outcome = try await simulator.scan(qr: qrText)   // .paired(device)
/// await simulator.stop()
/// ```
///
/// ``run()`` is the long-running form (starts if needed, returns when cancelled or stopped).
public final class Simulator: Sendable {
    public let configuration: SimulatorConfiguration
    private let core: SimulatorCore
    private let group: any EventLoopGroup
    private let logger: Logger

    private enum RunState: Sendable {
        case idle
        case starting
        case running(Running)
        case stopped
    }

    private struct Running: Sendable {
        let server: any Channel
        let control: (any Channel)?
        let endpoints: SimulatorEndpoints
        let caPEM: String?
    }

    private let state = Mutex(RunState.idle)

    /// Prepares the simulator (keys, certificate chain, phone accounts); nothing listens until ``start()``.
    public init(
        configuration: SimulatorConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger
    ) throws(SimulatorError) {
        self.configuration = configuration
        group = eventLoopGroup
        self.logger = logger
        core = try SimulatorCore(configuration: configuration, logger: logger)
    }

    /// The Noise root public key companions must trust, as 64 hex digits.
    public var rootPublicKeyHex: String { core.rootPublicKeyHex }

    /// The endpoints once started.
    public var endpoints: SimulatorEndpoints? {
        state.withLock { if case .running(let running) = $0 { running.endpoints } else { nil } }
    }

    /// The CA certificate PEM companions must trust (generated TLS), once started.
    public var caPEM: String? {
        state.withLock { if case .running(let running) = $0 { running.caPEM } else { nil } }
    }

    /// The phone used when a control request names none: the first configured account, else `15550001111`.
    public var defaultPhoneNumber: String {
        configuration.phones.first?.number ?? "15550001111"
    }

    /// Binds the listeners and returns where they are.
    @discardableResult
    public func start() async throws(SimulatorError) -> SimulatorEndpoints {
        try state.withLock { state throws(SimulatorError) in
            guard case .idle = state else { throw SimulatorError(.alreadyStarted) }
            state = .starting
        }
        do {
            let running = try await bind()
            state.withLock { $0 = .running(running) }
            logger.info(
                "WhatsApp simulator listening",
                metadata: [
                    "url": "\(running.endpoints.webSocketURL)", "control": "\(running.endpoints.controlURL ?? "-")",
                ])
            return running.endpoints
        } catch {
            state.withLock { $0 = .idle }
            throw error
        }
    }

    private func bind() async throws(SimulatorError) -> Running {
        let tls: TLSMaterial?
        switch configuration.tls {
        case .disabled:
            tls = nil
        case .generated(let caFilePath):
            tls = try TLSMaterial.generate(caFilePath: caFilePath, host: configuration.host)
        case .files(let chain, let key, let ca):
            tls = try TLSMaterial.load(certificateChainPath: chain, privateKeyPath: key, caFilePath: ca)
        }
        let server: any Channel
        do {
            server = try await WebSocketServer.bind(
                core: core, tls: tls?.context, group: group, host: configuration.host, port: configuration.port)
        } catch {
            throw SimulatorError(.bindFailed, detail: "\(error)")
        }
        let port = server.localAddress?.port ?? configuration.port
        var control: (any Channel)?
        if let controlPort = configuration.controlPort {
            do {
                control = try await ControlServer.bind(
                    api: ControlAPI(simulator: self), group: group, host: configuration.host, port: controlPort)
            } catch {
                try? await server.close()
                throw SimulatorError(.bindFailed, detail: "control: \(error)")
            }
        }
        let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
        let scheme = tls == nil ? "ws" : "wss"
        let controlPort = control?.localAddress?.port
        let endpoints = SimulatorEndpoints(
            webSocketURL: "\(scheme)://\(host):\(port)\(WebSocketServer.path)", port: port,
            controlURL: controlPort.map { "http://\(host):\($0)/control" }, controlPort: controlPort,
            caFilePath: tls?.caFilePath, rootPublicKeyHex: core.rootPublicKeyHex)
        return Running(server: server, control: control, endpoints: endpoints, caPEM: tls?.caPEM)
    }

    /// Runs until the task is cancelled or ``stop()`` is called (starting first if needed), then stops.
    public func run() async throws {
        let server: any Channel = try await {
            if let running = state.withLock({ if case .running(let running) = $0 { running } else { nil } }) {
                return running.server
            }
            try await start()
            guard let running = state.withLock({ if case .running(let running) = $0 { running } else { nil } })
            else { throw SimulatorError(.notRunning) }
            return running.server
        }()
        await withTaskCancellationHandler {
            try? await server.closeFuture.get()
        } onCancel: {
            server.close(promise: nil)
        }
        await stop()
    }

    /// Closes the listeners and every open connection.
    public func stop() async {
        let running: Running? = state.withLock { state in
            guard case .running(let running) = state else { return nil }
            state = .stopped
            return running
        }
        guard let running else { return }
        try? await running.server.close()
        try? await running.control?.close()
        core.closeAllConnections()
        logger.info("WhatsApp simulator stopped")
    }

    // MARK: - The phone

    /// The simulated phone for `number` (created with defaults unless configured).
    public func phone(_ number: String) -> SimulatedPhone {
        SimulatedPhone(number: number, simulator: self)
    }

    /// Phone `phone` scans `qr` (the companion's QR text, with or without the `wa.me` prefix) and links the
    /// companion: returns once `pair-device-sign` was verified and 515 sent, or once an injected fault's
    /// step is done. Throws ``SimulatorError`` (no such connection, mismatch, rejection, timeout...).
    public func scan(
        qr: String, phone: String? = nil, faults: SimulatorFaults = .none
    ) async throws(SimulatorError) -> PhoneOutcome {
        try await core.scan(qr: qr, phone: phone ?? defaultPhoneNumber, faults: faults)
    }

    /// The user of phone `phone` types `code`, shown by the companion that asked for a code for this number.
    /// Returns once paired (or a fault's step is done); throws ``SimulatorError/Code/wrongCode`` when the
    /// companion's key bundle does not open with it.
    public func enterCode(
        _ code: String, phone: String, faults: SimulatorFaults = .none
    ) async throws(SimulatorError) -> PhoneOutcome {
        try await core.enterCode(code, phone: phone, faults: faults)
    }

    // MARK: - Faults and state

    /// Sets the fault rule of `scope` (see ``SimulatorFaults``).
    public func setFaults(_ faults: SimulatorFaults, for scope: FaultScope) {
        core.setFaults(faults, for: scope)
    }

    /// Removes every fault rule.
    public func clearFaults() {
        core.clearFaults()
    }

    /// Paired devices, phones and connection counts.
    public func status() -> SimulatorStatus {
        core.snapshot()
    }

    /// The paired devices (with their login records).
    public var pairedDevices: [PairedDevice] {
        core.snapshot().pairedDevices
    }

    /// Every keepalive ping a companion sent and when it was answered, oldest first (the most recent
    /// 100,000 at most): tests check from this that a companion's liveness never stalls.
    public var keepalives: [SimulatorKeepalive] {
        core.keepalives
    }

    /// Every WebSocket connection accepted, in order (the most recent 100,000 at most): when its first
    /// and last frames arrived and the companion's Noise key, so a test can check that one companion
    /// never had two live connections.
    public var connections: [SimulatorConnection] {
        core.connectionLog.all
    }
}

/// A keepalive ping (`iq xmlns="w:p"`) the simulator received and answered.
public struct SimulatorKeepalive: Sendable, Hashable {
    /// The WebSocket connection it came on (unique within the simulator).
    public let connection: UInt64
    public let received: ContinuousClock.Instant
    public let answered: ContinuousClock.Instant
}

/// One simulated phone (account) of a ``Simulator``.
public struct SimulatedPhone: Sendable {
    public let number: String
    let simulator: Simulator

    /// See ``Simulator/scan(qr:phone:faults:)``.
    public func scan(qr: String, faults: SimulatorFaults = .none) async throws(SimulatorError) -> PhoneOutcome {
        try await simulator.scan(qr: qr, phone: number, faults: faults)
    }

    /// See ``Simulator/enterCode(_:phone:faults:)``.
    public func enterCode(_ code: String, faults: SimulatorFaults = .none) async throws(SimulatorError) -> PhoneOutcome {
        try await simulator.enterCode(code, phone: number, faults: faults)
    }
}
