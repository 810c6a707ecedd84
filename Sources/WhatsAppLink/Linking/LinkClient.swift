import Foundation
import Logging
import NIOCore
import Synchronization
import WhatsAppProtocol

/// Links one companion device: runs ``LinkStateMachine`` over real WhatsApp connections (registration, then
/// the login after the 515 restart), with its timers on the event loop of the connection's group.
///
/// ```swift
/// let client = LinkClient(credentials: credentials, configuration: configuration,
///                         eventLoopGroup: group, logger: logger)
/// await client.run { event in
///     switch event {
///     case .qr(let code, _, let expiresAt): ...            // show it
///     case .paired(let device): ...                         // store device.credentials etc.
///     case .failed, .timeout: ...
///     default: break
///     }
/// }
/// ```
///
/// One instance per session; ``run(onEvent:)`` may be called once. Memory per session is the state machine,
/// one connection (no large buffers) and a few scheduled timers; no thread or long-lived task besides the
/// ones `run` awaits.
public final class LinkClient: Sendable {
    private struct State: ~Copyable {
        var machine: LinkStateMachine?
        var machineError: AdvSecretError?
        var started = false
        var ended = false
        var connections: [Int: WhatsAppConnection] = [:]
        var currentConnection = 0
        var timers: [LinkTimer.Kind: Scheduled<Void>] = [:]
        var waiters: [Int: CheckedContinuation<Result<PairingCode, LinkError>, Never>] = [:]
        var nextRequestID = 0
    }

    private let configuration: LinkConfiguration
    private let eventLoop: any EventLoop
    private let executor: EventLoopTaskExecutor
    private let logger: Logger
    private let state: Mutex<State>
    private let inputs: AsyncStream<LinkInput>
    private let inputContinuation: AsyncStream<LinkInput>.Continuation
    private let clock = ContinuousClock()
    private let origin: ContinuousClock.Instant

    /// - Parameters:
    ///   - credentials: the device's keys (a fresh `DeviceCredentials.generate()` for a new link). The adv secret
    ///     may change during the run; the one to store is in ``PairedDevice/credentials``.
    ///   - eventLoopGroup: shared by all sessions; each session runs on one of its loops (its connections,
    ///     timers and run loop alike).
    public convenience init(
        credentials: DeviceCredentials, configuration: LinkConfiguration, eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) {
        self.init(
            credentials: credentials, configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger,
            random: SystemLinkRandom())
    }

    init(
        credentials: DeviceCredentials, configuration: LinkConfiguration, eventLoopGroup: any EventLoopGroup,
        logger: Logger, random: any LinkRandom
    ) {
        self.configuration = configuration
        self.eventLoop = eventLoopGroup.any()
        self.executor = EventLoopTaskExecutor(eventLoop)
        self.logger = logger
        var initial = State()
        do {
            initial.machine = try LinkStateMachine(credentials: credentials, configuration: configuration, random: random)
        } catch {
            initial.machineError = error
        }
        state = Mutex(initial)
        (inputs, inputContinuation) = AsyncStream.makeStream(of: LinkInput.self)
        origin = clock.now
    }

    deinit {
        inputContinuation.finish()
    }

    /// The QR string currently to show, if a ref is being displayed (built with the current adv secret).
    public var currentQR: String? {
        state.withLock { $0.machine?.currentQR }
    }

    /// Stops the run: closes the connection, answers waiting pairing-code requests with
    /// ``LinkError/Code/cancelled``; ``run(onEvent:)`` returns without a terminal event.
    public func cancel() {
        inputContinuation.yield(.cancel)
    }

    /// A pairing code for `phone` (linking spec §5), to show to the user who types it on the phone.
    ///
    /// Waits until the registration connection is up and the server's refs have arrived, then sends
    /// `companion_hello` and returns the code once the server accepted it; all bounded by
    /// ``LinkConfiguration/pairingCodeRequestTimeout``. A second request for the same number while a code is
    /// live returns that code. Call while ``run(onEvent:)`` is running (a request made before it starts waits
    /// for it). The code is a secret: do not log it.
    public func requestPairingCode(
        phone: PhoneNumber, showPushNotification: Bool
    ) async throws(LinkError)
        -> PairingCode
    {
        let id = state.withLock { state in
            state.nextRequestID += 1
            return state.nextRequestID
        }
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<PairingCode, LinkError>, Never>) in
                let ended = state.withLock { state in
                    guard !state.ended else { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if ended {
                    continuation.resume(returning: .failure(LinkError(.sessionEnded)))
                } else if Task.isCancelled {
                    // Cancelled before the waiter was registered: the cancellation handler found nothing to resolve.
                    resolveRequest(id, .failure(LinkError(.cancelled)))
                } else {
                    inputContinuation.yield(.requestPairingCode(id, phone, showPushNotification: showPushNotification))
                }
            }
        } onCancel: {
            resolveRequest(id, .failure(LinkError(.cancelled)))
            inputContinuation.yield(.abandonPairingCodeRequest(id))
        }
        return try result.get()
    }

    /// Runs the linking session until a terminal event has been delivered to `onEvent` (which is awaited for
    /// every event, in order), or until the calling task is cancelled or ``cancel()`` is called (then the
    /// connection is closed and no terminal event is sent). Returns at once when called a second time.
    ///
    /// `onEvent` runs on the run's task and holds it up while it runs: hand the event off, and never await
    /// ``requestPairingCode(phone:showPushNotification:)`` from inside it (that waits for this very loop).
    public func run(onEvent: @Sendable (LinkEvent) async -> Void) async {
        let firstRun = state.withLock { state in
            defer { state.started = true }
            return !state.started
        }
        guard firstRun else { return }
        if let error = state.withLock({ $0.machineError }) {
            logger.error("Invalid credentials", metadata: [LinkMetadataKey.error: "\(error.code)"])
            await onEvent(.failed(LinkFailure(.handshakeFailed, "invalid credentials: \(error.code)")))
            endRun()
            return
        }

        // On the connection's loop, children (the readers) included; see ``EventLoopTaskExecutor``.
        await withTaskExecutorPreference(executor) { await runMachine(onEvent: onEvent) }
        endRun()
    }

    private func runMachine(onEvent: @Sendable (LinkEvent) async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            var finished = await perform(handle(.start), group: &group, onEvent: onEvent)
            if !finished {
                for await input in inputs {
                    finished = await perform(handle(input), group: &group, onEvent: onEvent)
                    if finished { break }
                }
            }
            if !finished {
                // Cancelled: end without a terminal event.
                _ = await perform(handle(.cancel), group: &group, onEvent: onEvent)
            }
            await closeAllConnections()
            group.cancelAll()
        }
    }

    // MARK: - Carrying out actions

    private func handle(_ input: LinkInput) -> [LinkAction] {
        let now = LinkTime(elapsed: clock.now - origin, date: Date())
        return state.withLock { $0.machine?.handle(input, at: now) ?? [] }
    }

    /// Performs `actions` in order; true once the machine said `finish`.
    private func perform(
        _ actions: [LinkAction], group: inout TaskGroup<Void>, onEvent: @Sendable (LinkEvent) async -> Void
    ) async -> Bool {
        for action in actions {
            switch action {
            case .connect(let id, let payload):
                state.withLock { $0.currentConnection = id }
                group.addTask { await self.connectAndRead(id: id, payload: payload) }
            case .send(let node):
                guard let connection = currentConnection() else {
                    logger.debug("Nothing to send on", metadata: [LinkMetadataKey.tag: "\(node.tag)"])
                    continue
                }
                do {
                    try await connection.send(node)
                } catch {
                    // The reader reports the broken connection.
                    logger.debug("Send failed", metadata: [LinkMetadataKey.tag: "\(node.tag)", LinkMetadataKey.error: "\(error.code)"])
                }
            case .close:
                if let connection = currentConnection() {
                    await connection.close()
                }
            case .startTimer(let timer, let delay):
                let continuation = inputContinuation
                let scheduled = eventLoop.scheduleTask(in: TimeAmount(delay)) {
                    _ = continuation.yield(.timerFired(timer))
                }
                state.withLock { $0.timers.updateValue(scheduled, forKey: timer.kind) }?.cancel()
            case .cancelTimer(let kind):
                state.withLock { $0.timers.removeValue(forKey: kind) }?.cancel()
            case .emit(let event):
                await onEvent(event)
            case .answerCodeRequest(let id, let result):
                resolveRequest(id, result)
            case .log(let record):
                record.log(to: logger)
            case .finish:
                return true
            }
        }
        return false
    }

    private func currentConnection() -> WhatsAppConnection? {
        state.withLock { $0.connections[$0.currentConnection] }
    }

    /// Opens connection `id`, then feeds its stanzas to the machine until it closes.
    private func connectAndRead(id: Int, payload: [UInt8]) async {
        let credentials = state.withLock { $0.machine?.credentials }
        guard let credentials else { return }
        let connection: WhatsAppConnection
        do {
            connection = try await WhatsAppConnection.connect(
                configuration: configuration.connectionConfiguration, noiseKey: credentials.noiseKey, payload: payload,
                eventLoopGroup: eventLoop, logger: logger)
        } catch {
            logger.debug("Connection failed", metadata: [LinkMetadataKey.connection: "\(id)", LinkMetadataKey.error: "\(error)"])
            inputContinuation.yield(.connectionFailed(id, error))
            return
        }
        let accepted = state.withLock { state in
            guard !state.ended else { return false }
            state.connections[id] = connection
            return true
        }
        guard accepted else {
            await connection.close()
            return
        }
        inputContinuation.yield(.connectionOpened(id))
        var closeError: WhatsAppConnectionError?
        do {
            for try await node in connection.nodes {
                logger.trace("Received", metadata: [LinkMetadataKey.tag: "\(node.tag)", LinkMetadataKey.stanzaID: "\(node["id"] ?? "-")"])
                inputContinuation.yield(.received(id, node))
            }
        } catch {
            closeError = error
        }
        state.withLock { _ = $0.connections.removeValue(forKey: id) }
        await connection.close()
        inputContinuation.yield(.connectionClosed(id, closeError))
    }

    private func closeAllConnections() async {
        let connections = state.withLock { state in
            let all = Array(state.connections.values)
            state.connections.removeAll()
            return all
        }
        for connection in connections { await connection.close() }
    }

    private func resolveRequest(_ id: Int, _ result: Result<PairingCode, LinkError>) {
        state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: result)
    }

    /// After the run: timers off, every waiting request answered, later requests refused at once.
    private func endRun() {
        let (timers, waiters) = state.withLock { state in
            state.ended = true
            let timers = Array(state.timers.values)
            state.timers.removeAll()
            let waiters = Array(state.waiters.values)
            state.waiters.removeAll()
            return (timers, waiters)
        }
        timers.forEach { $0.cancel() }
        for waiter in waiters { waiter.resume(returning: .failure(LinkError(.sessionEnded))) }
        inputContinuation.finish()
    }
}
