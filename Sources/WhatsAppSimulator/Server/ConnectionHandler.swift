import Foundation
import Logging
import NIOCore
import NIOWebSocket
import WhatsAppProtocol

/// A way into one connection from outside its event loop (the phone's actions).
final class ConnectionHandle: Sendable {
    let id: UInt64
    let eventLoop: any EventLoop
    /// The handler while the connection is open; nil afterwards (this also breaks the handle/handler cycle).
    let box: NIOLoopBoundBox<ConnectionHandler?>

    init(id: UInt64, eventLoop: any EventLoop) {
        self.id = id
        self.eventLoop = eventLoop
        box = NIOLoopBoundBox.makeEmptyBox(valueType: ConnectionHandler.self, eventLoop: eventLoop)
    }

    /// Closes the connection (from any thread).
    func close() {
        eventLoop.execute { [box] in box.value?.closeConnection() }
    }

    /// Starts a phone action on the connection's event loop and waits for its end.
    func perform(
        _ body: @escaping @Sendable (ConnectionHandler) throws(SimulatorError) -> EventLoopFuture<ServerSession.OperationResult>
    ) async -> Result<ServerSession.OperationResult, SimulatorError> {
        let eventLoop = self.eventLoop
        let future = eventLoop.flatSubmit { [box] () -> EventLoopFuture<ServerSession.OperationResult> in
            guard let handler = box.value else {
                return eventLoop.makeFailedFuture(SimulatorError(.connectionGone))
            }
            do {
                return try body(handler)
            } catch {
                return eventLoop.makeFailedFuture(error)
            }
        }
        do {
            return .success(try await future.get())
        } catch let error as SimulatorError {
            return .failure(error)
        } catch {
            return .failure(SimulatorError(.connectionGone, detail: "\(error)"))
        }
    }
}

/// The I/O shell of one WhatsApp WebSocket connection: feeds binary messages to ``ServerTransport`` and
/// stanzas to ``ServerSession``, and carries out their actions (writes, timers, shared-state updates).
/// Lives on the channel's event loop.
final class ConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let core: SimulatorCore
    private let handleID: UInt64
    private var logger: Logger
    private var transport: ServerTransport
    private var session: ServerSession
    /// Faults of the connection scope still unfired.
    private var faults: SimulatorFaults
    private var handle: ConnectionHandle?
    private var context: ChannelHandlerContext?

    private struct RunningOperation {
        let promise: EventLoopPromise<ServerSession.OperationResult>
        let timeout: Scheduled<Void>
    }
    private var operation: RunningOperation?
    private var handshakeTimer: Scheduled<Void>?
    private var refsTimer: Scheduled<Void>?
    /// After the 515: closes the socket if the companion has not.
    private var restartCloseTimer: Scheduled<Void>?
    /// What this connection put into the shared state, to take out when it closes.
    private var registeredNoiseKey: [UInt8]?
    private var codePhone: String?
    private var loginJID: String?
    /// Whether the current WebSocket message is binary (for continuation frames).
    private var inBinaryMessage = false
    private var closing = false

    init(core: SimulatorCore, id: UInt64) {
        self.core = core
        var logger = core.logger
        logger[metadataKey: "connection"] = "\(id)"
        self.logger = logger
        let accepted = core.connectionAccepted()
        faults = accepted.faults
        transport = ServerTransport(
            staticKey: core.serverStaticKey, ephemeralKey: KeyPair.generate(), certificateChain: accepted.chain,
            maximumFrameLength: min(FrameFormat.maximumLength, core.configuration.maxMessageSize))
        session = ServerSession(settings: core.settings)
        handleID = id
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let handle = ConnectionHandle(id: handleID, eventLoop: context.eventLoop)
        handle.box.value = self
        self.handle = handle
        core.track(handle, peer: context.channel.remoteAddress?.ipAddress)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        handshakeTimer = context.eventLoop.scheduleTask(in: .simulator(core.configuration.handshakeTimeout)) {
            bound.value.handshakeTimedOut()
        }
        logger.debug("connection open")
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        tearDown()
    }

    func channelInactive(context: ChannelHandlerContext) {
        tearDown()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary, .continuation:
            if frame.opcode == .binary { inBinaryMessage = true }
            guard inBinaryMessage else { return }
            if frame.fin {
                inBinaryMessage = false
                core.connectionLog.frame(handleID)
            }
            let data = frame.unmaskedData
            receive(data.getBytes(at: data.readerIndex, length: data.readableBytes) ?? [])
        case .text:
            inBinaryMessage = false
            logger.debug("ignoring a text message")
        case .ping:
            let data = frame.unmaskedData
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: data)), promise: nil)
        case .connectionClose:
            close()
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error: \(error)")
        close()
    }

    func closeConnection() {
        close()
        context?.flush()
    }

    private func handshakeTimedOut() {
        guard !transport.isOpen else { return }
        logger.debug("handshake timeout")
        close()
    }

    // MARK: - Inbound

    private func receive(_ bytes: [UInt8]) {
        let events: [ServerTransport.Event]
        do {
            events = try transport.receive(bytes)
        } catch {
            logger.debug("closing: \(error)")
            close()
            return
        }
        for event in events where !closing {
            switch event {
            case .send(let bytes):
                write(bytes)
            case .handshakeComplete(let peer):
                handshakeTimer?.cancel()
                handshakeTimer = nil
                authenticated(peer)
            case .node(let node):
                logger.trace("received", metadata: ["tag": "\(node.tag)", "id": "\(node["id"] ?? "")"])
                run(session.receive(node, now: Date()))
            }
        }
        context?.flush()
    }

    private func authenticated(_ peer: NoisePeer) {
        let summary: ClientPayloadSummary
        do {
            summary = try ClientPayloadSummary.parse(peer.payload, noiseKey: peer.staticKey)
        } catch {
            logger.debug("refusing payload: \(error)")
            run(session.rejectPayload())
            return
        }
        switch summary {
        case .registration(let companion):
            core.connectionLog.authenticated(handleID, noiseKey: peer.staticKey, kind: "registration", jid: nil)
            logger.debug("registration")
            run(session.startRegistration(companion))
        case .login(let username, let device):
            let known = core.pairedDevice(username: username, device: device)
            core.connectionLog.authenticated(handleID, noiseKey: peer.staticKey, kind: "login", jid: "\(username):\(device)")
            logger.debug("login", metadata: ["known": "\(known != nil)"])
            run(session.startLogin(username: username, device: device, noiseKey: peer.staticKey, known: known, now: Date()))
        }
    }

    // MARK: - Phone actions (on the event loop)

    func scan(
        qr: PairingQR, phone: PhoneIdentity, assignment: DeviceAssignment, explicitFaults: SimulatorFaults
    ) throws(SimulatorError) -> EventLoopFuture<ServerSession.OperationResult> {
        try beginOperation { handler in
            let faults = handler.core.takeActionFaults(
                phone: phone.number, connection: &handler.faults, explicit: explicitFaults)
            return handler.session.scan(
                ScanRequest(qr: qr, phone: phone, assignment: assignment, faults: faults), now: Date())
        }
    }

    func enterCode(
        phone: PhoneIdentity, assignment: DeviceAssignment, explicitFaults: SimulatorFaults,
        primaryEphemeral: KeyPair, wrappedPrimaryEphemeral: [UInt8], companionEphemeral: [UInt8]
    ) throws(SimulatorError) -> EventLoopFuture<ServerSession.OperationResult> {
        try beginOperation { handler in
            let faults = handler.core.takeActionFaults(
                phone: phone.number, connection: &handler.faults, explicit: explicitFaults)
            let entry = CodeEntry(
                phone: phone, assignment: assignment, faults: faults, primaryEphemeral: primaryEphemeral,
                wrappedPrimaryEphemeral: wrappedPrimaryEphemeral, companionEphemeral: companionEphemeral)
            return handler.session.enterCode(entry, now: Date())
        }
    }

    private func beginOperation(
        _ start: (ConnectionHandler) -> [ServerSession.Action]
    ) throws(SimulatorError) -> EventLoopFuture<ServerSession.OperationResult> {
        guard let context, !closing else { throw SimulatorError(.connectionGone) }
        guard operation == nil else { throw SimulatorError(.busy) }
        let promise = context.eventLoop.makePromise(of: ServerSession.OperationResult.self)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let timeout = context.eventLoop.scheduleTask(in: .simulator(core.configuration.phoneReplyTimeout)) {
            bound.value.run(bound.value.session.operationTimedOut())
            bound.value.context?.flush()
        }
        operation = RunningOperation(promise: promise, timeout: timeout)
        run(start(self))
        context.flush()
        return promise.futureResult
    }

    // MARK: - Actions

    private func run(_ actions: [ServerSession.Action]) {
        let started = ContinuousClock.now
        var closeAfterwards = false
        var operationEnded = false
        defer {
            if operationEnded, !closeAfterwards, session.closeIfRefsExpired() == [.close] { closeAfterwards = true }
            if closeAfterwards { close() }
        }
        for action in actions {
            switch action {
            case .send(let node):
                send(node)
            case .close:
                // Closing may complete at once (plain TCP) and fail the running action as "gone"; finish
                // the batch first.
                closeAfterwards = true
            case .awaitClientClose(let bound):
                guard let eventLoop = context?.eventLoop else { break }
                let handler = NIOLoopBound(self, eventLoop: eventLoop)
                restartCloseTimer = eventLoop.scheduleTask(in: .simulator(bound)) {
                    handler.value.logger.debug("The companion did not close after the 515; closing")
                    handler.value.closeConnection()
                }
            case .registered(let companion):
                registeredNoiseKey = companion.noiseKey
                if let handle { core.registerConnection(handle, noiseKey: companion.noiseKey) }
            case .scheduleRefsExpiry(let duration):
                guard let eventLoop = context?.eventLoop else { break }
                let bound = NIOLoopBound(self, eventLoop: eventLoop)
                refsTimer = eventLoop.scheduleTask(in: .simulator(duration)) {
                    bound.value.run(bound.value.session.refsExpired())
                    bound.value.context?.flush()
                }
            case .codeRequested(let request):
                let refusal = core.takeCompanionHelloRefusal(phone: request.phoneNumber, connection: &faults)
                if let handle, let previous = codePhone {
                    // The session replaced the older request of this connection.
                    core.dropCodeRequest(phone: previous, handle: handle)
                    codePhone = nil
                }
                run(session.answerCodeRequest(refusal: refusal))
            case .codeRequestAccepted(let phone):
                if let handle, let request = session.pendingCodeRequest {
                    codePhone = phone
                    core.registerCodeRequest(request, handle: handle)
                }
            case .loggedIn(let jid):
                loginJID = jid
                core.recordLogin(jid: jid, at: Date())
            case .preKeysUploaded(let count):
                logger.debug("prekeys uploaded", metadata: ["count": "\(count)"])
            case .keepaliveAnswered:
                core.recordKeepalive(SimulatorKeepalive(connection: handleID, received: started, answered: ContinuousClock.now))
            case .operationFinished(let result):
                if case .paired(let record) = result {
                    // Before the 515 goes out, so the companion's login finds the device.
                    core.recordPairing(record)
                    if let handle { core.unregister(handle, noiseKey: registeredNoiseKey, codePhone: codePhone) }
                    registeredNoiseKey = nil
                    codePhone = nil
                }
                if let operation {
                    self.operation = nil
                    operation.timeout.cancel()
                    operation.promise.succeed(result)
                }
                operationEnded = true
            }
        }
    }

    private func send(_ node: BinaryNode) {
        guard !closing else { return }
        do {
            write(try transport.seal(node))
            logger.trace("sent", metadata: ["tag": "\(node.tag)", "id": "\(node["id"] ?? "")"])
        } catch {
            logger.debug("cannot send: \(error)")
            close()
        }
    }

    private func write(_ bytes: [UInt8]) {
        guard let context, !closing else { return }
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: buffer)), promise: nil)
    }

    private func close() {
        guard let context, !closing else { return }
        closing = true
        if let handle {
            core.unregister(handle, noiseKey: registeredNoiseKey, codePhone: codePhone)
            registeredNoiseKey = nil
            codePhone = nil
        }
        var code = context.channel.allocator.buffer(capacity: 2)
        code.write(webSocketErrorCode: .normalClosure)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: code)))
            .whenComplete { _ in bound.value.close(promise: nil) }
    }

    /// Once, when the channel goes away: fail the running action, leave the shared state.
    private func tearDown() {
        guard let handle else { return }
        self.handle = nil
        closing = true
        handshakeTimer?.cancel()
        refsTimer?.cancel()
        restartCloseTimer?.cancel()
        let actions = session.connectionClosed()
        for case .operationFinished(let result) in actions {
            if let operation {
                self.operation = nil
                operation.timeout.cancel()
                operation.promise.succeed(result)
            }
        }
        if let operation {
            self.operation = nil
            operation.timeout.cancel()
            operation.promise.fail(SimulatorError(.connectionGone))
        }
        core.connectionClosed(handle, noiseKey: registeredNoiseKey, codePhone: codePhone, loginJID: loginJID)
        handle.box.value = nil
        context = nil
        logger.debug("connection closed")
    }
}

extension TimeAmount {
    static func simulator(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
