import Foundation
import Logging
import Synchronization
import WhatsAppProtocol

/// What every connection and the phone share: the configuration, the Noise identity, and the state
/// behind one lock. Connections call in from their event loops; phone actions from any task.
final class SimulatorCore: Sendable {
    let configuration: SimulatorConfiguration
    let settings: ServerSession.Settings
    let logger: Logger
    /// The Noise certificate root.
    let rootKey: KeyPair
    /// The server's Noise static key, certified by ``certificateChain``.
    let serverStaticKey: KeyPair
    /// The chain signed by ``rootKey``.
    let certificateChain: [UInt8]
    /// The same leaf under an intermediate signed by another root (fault ``SimulatorFaults/wrongRootKey``).
    let wrongRootCertificateChain: [UInt8]
    private let state: Mutex<SimulatorState>
    private let connectionIDs = Atomic<UInt64>(0)
    /// Every open WebSocket connection, to close them on stop.
    private let connections = Mutex<[UInt64: ConnectionHandle]>([:])
    /// The keepalives answered, oldest first; at most ``keepaliveCapacity`` (older ones are dropped).
    private let keepaliveLog = Mutex<[SimulatorKeepalive]>([])
    static let keepaliveCapacity = 100_000
    /// Every connection: its frames' times and whose it is.
    let connectionLog = ConnectionLog()

    init(configuration: SimulatorConfiguration, logger: Logger, now: Date = Date()) throws(SimulatorError) {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        settings = ServerSession.Settings(
            refsCount: configuration.refsCount, firstRefLifetime: configuration.firstRefLifetime,
            laterRefLifetime: configuration.laterRefLifetime, closeWhenRefsExpire: configuration.closeWhenRefsExpire,
            initialPreKeyCount: configuration.initialPreKeyCount, restartCloseTimeout: configuration.restartCloseTimeout)
        if let hex = configuration.rootPrivateKeyHex {
            guard let bytes = Hex.decode(hex), bytes.count == 32, let key = try? KeyPair(privateKey: bytes) else {
                throw SimulatorError(.invalidConfiguration, detail: "root private key must be 64 hex digits")
            }
            rootKey = key
        } else {
            rootKey = KeyPair.generate()
        }
        serverStaticKey = KeyPair.generate()
        let validFrom = now.addingTimeInterval(-3600)
        let validUntil = now.addingTimeInterval(30 * 24 * 3600)
        do {
            certificateChain = try ServerCertificateChainBuilder.build(
                rootKeyPair: rootKey, serverStaticPublicKey: serverStaticKey.publicKey, validFrom: validFrom,
                validUntil: validUntil)
            wrongRootCertificateChain = try ServerCertificateChainBuilder.build(
                rootKeyPair: KeyPair.generate(), serverStaticPublicKey: serverStaticKey.publicKey,
                validFrom: validFrom, validUntil: validUntil)
        } catch {
            throw SimulatorError(.invalidConfiguration, detail: "certificate chain: \(error.code)")
        }
        var initial = SimulatorState()
        initial.faults.set(configuration.faults, for: .global)
        for account in configuration.phones {
            guard (try? PhoneNumber(validating: account.number)) != nil else {
                throw SimulatorError(.invalidPhoneNumber, detail: account.number)
            }
            initial.phones[account.number] = try PhoneState(account: account)
        }
        state = Mutex(initial)
    }

    var rootPublicKeyHex: String { Hex.encode(rootKey.publicKey) }

    // MARK: - Connections

    func nextConnectionID() -> UInt64 {
        connectionIDs.add(1, ordering: .relaxed).newValue
    }

    func recordKeepalive(_ keepalive: SimulatorKeepalive) {
        keepaliveLog.withLock { log in
            if log.count >= Self.keepaliveCapacity { log.removeFirst(log.count / 2) }
            log.append(keepalive)
        }
    }

    var keepalives: [SimulatorKeepalive] { keepaliveLog.withLock { $0 } }

    func track(_ handle: ConnectionHandle, peer: String?) {
        connectionLog.accepted(handle.id, peer: peer)
        connections.withLock { $0[handle.id] = handle }
    }

    /// Closes every open WebSocket connection.
    func closeAllConnections() {
        let handles = connections.withLock { Array($0.values) }
        for handle in handles { handle.close() }
    }

    /// A connection was accepted: its connection-scope faults and the chain its ServerHello carries.
    func connectionAccepted() -> (faults: SimulatorFaults, chain: [UInt8]) {
        state.withLock { state in
            state.openConnections += 1
            state.acceptedConnections += 1
            var faults = state.faults.takeConnectionFaults()
            let wrongRoot = state.faults.take(\.wrongRootKey, phone: nil, connection: &faults) ?? false
            return (faults, wrongRoot ? wrongRootCertificateChain : certificateChain)
        }
    }

    func connectionClosed(_ handle: ConnectionHandle, noiseKey: [UInt8]?, codePhone: String?, loginJID: String?) {
        _ = connections.withLock { $0.removeValue(forKey: handle.id) }
        connectionLog.closed(handle.id)
        state.withLock { state in
            state.openConnections -= 1
            if let noiseKey, state.registrations[noiseKey] === handle { state.registrations[noiseKey] = nil }
            if let codePhone, state.pendingCodes[codePhone]?.handle === handle { state.pendingCodes[codePhone] = nil }
            if let loginJID { state.recordLogout(jid: loginJID) }
        }
    }

    /// The connection stops being findable by the phone (it is closing or paired).
    func unregister(_ handle: ConnectionHandle, noiseKey: [UInt8]?, codePhone: String?) {
        state.withLock { state in
            if let noiseKey, state.registrations[noiseKey] === handle { state.registrations[noiseKey] = nil }
            if let codePhone, state.pendingCodes[codePhone]?.handle === handle { state.pendingCodes[codePhone] = nil }
        }
    }

    func registerConnection(_ handle: ConnectionHandle, noiseKey: [UInt8]) {
        state.withLock { $0.registrations[noiseKey] = handle }
    }

    func registerCodeRequest(_ request: CodeRequest, handle: ConnectionHandle) {
        state.withLock { $0.pendingCodes[request.phoneNumber] = PendingCode(handle: handle, request: request) }
    }

    func dropCodeRequest(phone: String, handle: ConnectionHandle) {
        state.withLock { state in
            if state.pendingCodes[phone]?.handle === handle { state.pendingCodes[phone] = nil }
        }
    }

    /// The device paired as `username:device`, if any.
    func pairedDevice(username: String, device: UInt16) -> PairingRecord? {
        let jid = JID(user: username, device: device, server: JID.Server.whatsApp).description
        return state.withLock { $0.devices[jid]?.record }
    }

    func recordLogin(jid: String, at date: Date) {
        state.withLock { $0.recordLogin(jid: jid, at: date) }
    }

    func recordPairing(_ record: PairingRecord) {
        state.withLock { state in
            state.recordPairing(record)
            if state.pendingCodes[record.device.phoneNumber] != nil {
                state.pendingCodes[record.device.phoneNumber] = nil
            }
        }
    }

    func releaseDevice(phone: String, _ assignment: DeviceAssignment) {
        state.withLock { $0.releaseDevice(phone: phone, assignment) }
    }

    // MARK: - Faults

    func setFaults(_ faults: SimulatorFaults, for scope: FaultScope) {
        state.withLock { $0.faults.set(faults, for: scope) }
    }

    func clearFaults() {
        state.withLock { $0.faults.clear() }
    }

    /// The refusal (if any) for a `companion_hello` naming `phone` on a connection with `faults`.
    func takeCompanionHelloRefusal(phone: String, connection faults: inout SimulatorFaults) -> CompanionHelloRefusal? {
        state.withLock { $0.faults.take(\.companionHelloRefusal, phone: phone, connection: &faults) }
    }

    /// The faults of one phone action by `phone` on a connection with `faults`, plus those passed with the
    /// call.
    func takeActionFaults(
        phone: String, connection faults: inout SimulatorFaults, explicit: SimulatorFaults
    ) -> ActionFaults {
        state.withLock { state in
            func take<Value>(_ field: WritableKeyPath<SimulatorFaults, Value?>) -> Value? {
                explicit[keyPath: field] ?? state.faults.take(field, phone: phone, connection: &faults)
            }
            return ActionFaults(
                pairSuccess: take(\.pairSuccess), dropAfterScan: take(\.dropAfterScan) ?? false,
                companionRegRefresh: take(\.companionRegRefreshAfterScan) ?? false,
                passkeyRequest: take(\.passkeyRequestAfterScan) ?? false)
        }
    }

    // MARK: - Phone

    func phoneIdentity(_ number: String) throws(SimulatorError) -> PhoneIdentity {
        guard let phone = try? PhoneNumber(validating: number) else {
            throw SimulatorError(.invalidPhoneNumber)
        }
        return try state.withLock { state throws(SimulatorError) in try state.phone(phone.digits) }
    }

    /// The phone `phone` scans `qr`: finds the registration connection with the QR's keys and completes
    /// pairing there (or injects the faults).
    func scan(
        qr text: String, phone number: String, faults: SimulatorFaults
    ) async throws(SimulatorError)
        -> PhoneOutcome
    {
        await demoDelay()
        let qr: PairingQR
        do {
            qr = try PairingQR.parse(text).qr
        } catch {
            throw SimulatorError(.invalidQR, detail: "\(error.code)")
        }
        let phone = try phoneIdentity(number)
        guard let handle = state.withLock({ $0.registrations[qr.noisePublicKey] }) else {
            throw SimulatorError(.noSuchConnection)
        }
        let assignment = state.withLock { $0.assignDevice(phone: phone.number) }
        let result = await handle.perform { handler throws(SimulatorError) in
            try handler.scan(qr: qr, phone: phone, assignment: assignment, explicitFaults: faults)
        }
        return try finish(result, phone: phone.number, assignment: assignment)
    }

    /// The user of phone `phone` types `code` (as shown by the companion that asked for a code for this
    /// number).
    func enterCode(
        _ text: String, phone number: String, faults: SimulatorFaults
    ) async throws(SimulatorError)
        -> PhoneOutcome
    {
        await demoDelay()
        let code: PairingCode
        do {
            code = try PairingCode(parsing: text)
        } catch {
            throw SimulatorError(.invalidCode, detail: "\(error.code)")
        }
        let phone = try phoneIdentity(number)
        guard let pending = state.withLock({ $0.pendingCodes[phone.number] }) else {
            throw SimulatorError(.noPendingCodeRequest)
        }
        // The two PBKDF2 runs happen here, not on the connection's event loop.
        let primaryEphemeral = KeyPair.generate()
        let companionEphemeral: [UInt8]
        let wrapped: [UInt8]
        do {
            companionEphemeral = try PairingCodeCrypto.unwrapEphemeralKey(
                pending.request.wrappedCompanionEphemeral, code: code)
            wrapped = try PairingCodeCrypto.wrapEphemeralKey(
                primaryEphemeral.publicKey, code: code, salt: ServerRandom.bytes(PairingCodeCrypto.saltLength),
                iv: ServerRandom.bytes(PairingCodeCrypto.ivLength))
        } catch {
            throw SimulatorError(.invalidCode, detail: "\(error.code)")
        }
        let assignment = state.withLock { $0.assignDevice(phone: phone.number) }
        let result = await pending.handle.perform { handler throws(SimulatorError) in
            try handler.enterCode(
                phone: phone, assignment: assignment, explicitFaults: faults, primaryEphemeral: primaryEphemeral,
                wrappedPrimaryEphemeral: wrapped, companionEphemeral: companionEphemeral)
        }
        return try finish(result, phone: phone.number, assignment: assignment)
    }

    private func finish(
        _ result: Result<ServerSession.OperationResult, SimulatorError>, phone: String, assignment: DeviceAssignment
    ) throws(SimulatorError) -> PhoneOutcome {
        switch result {
        case .success(.paired(let record)):
            // Recorded by the connection already, before the 515 went out.
            return .paired(record.device)
        case .success(.outcome(let outcome)):
            releaseDevice(phone: phone, assignment)
            return outcome
        case .success(.failed(let error)), .failure(let error):
            releaseDevice(phone: phone, assignment)
            throw error
        }
    }

    private func demoDelay() async {
        let delay = configuration.demo.phoneActionDelay
        if delay > .zero { try? await Task.sleep(for: delay) }
    }

    // MARK: - Status

    func snapshot() -> SimulatorStatus {
        state.withLock { state in
            SimulatorStatus(
                rootPublicKeyHex: Hex.encode(rootKey.publicKey),
                pairedDevices: state.devices.values.map(\.device).sorted { $0.jid < $1.jid },
                openConnections: state.openConnections, acceptedConnections: state.acceptedConnections,
                registrationConnections: state.registrations.count, pendingCodeRequests: state.pendingCodes.count,
                phones: state.phones.values.map {
                    SimulatorStatus.Phone(
                        number: $0.account.number, pushName: $0.account.pushName, platform: $0.account.platform,
                        lid: $0.lid, identityPublicKeyHex: Hex.encode($0.identity.publicKey))
                }.sorted { $0.number < $1.number })
        }
    }
}

/// A snapshot of the simulator's state.
public struct SimulatorStatus: Sendable, Hashable, Codable {
    public struct Phone: Sendable, Hashable, Codable {
        public var number: String
        public var pushName: String
        public var platform: String
        public var lid: String
        public var identityPublicKeyHex: String
    }

    /// The Noise root public key companions must trust.
    public var rootPublicKeyHex: String
    /// Every paired device, with its login record.
    public var pairedDevices: [PairedDevice]
    public var openConnections: Int
    public var acceptedConnections: Int
    /// Live registration connections (handshake done, not yet paired).
    public var registrationConnections: Int
    public var pendingCodeRequests: Int
    public var phones: [Phone]
}
