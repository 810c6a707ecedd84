/// Why a simulator operation failed: starting the server, a phone action (scan, code entry) or one
/// simulated connection.
public struct SimulatorError: Error, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case invalidConfiguration, tlsSetupFailed, bindFailed, notRunning, alreadyStarted
            case invalidQR, noSuchConnection, qrMismatch, refExpired
            case invalidPhoneNumber, invalidCode, noPendingCodeRequest, wrongCode, invalidCompanionFinish
            case companionRejected, invalidPairDeviceSign, connectionGone, timeout, busy
            case handshakeFailed, protocolViolation
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// A configuration value is out of range or unreadable (a key, a certificate file).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The TLS certificate authority, certificate or context could not be made.
        public static let tlsSetupFailed = Code(.tlsSetupFailed)
        /// A listener could not be bound.
        public static let bindFailed = Code(.bindFailed)
        /// The simulator is not started (or already stopped).
        public static let notRunning = Code(.notRunning)
        /// ``Simulator/start()`` was called twice.
        public static let alreadyStarted = Code(.alreadyStarted)
        /// The scanned text is not a pairing QR.
        public static let invalidQR = Code(.invalidQR)
        /// No live registration connection has the QR's noise key (never connected, closed, or already paired).
        public static let noSuchConnection = Code(.noSuchConnection)
        /// A connection has the QR's noise key but registered another identity key, or never issued the ref.
        public static let qrMismatch = Code(.qrMismatch)
        /// The QR's ref has run out (the connection's ref window is over).
        public static let refExpired = Code(.refExpired)
        /// The phone number is not a valid international number (digits only, no leading 0).
        public static let invalidPhoneNumber = Code(.invalidPhoneNumber)
        /// The text entered is not an 8-character pairing code.
        public static let invalidCode = Code(.invalidCode)
        /// No companion asked for a pairing code for this phone number (or its connection is gone).
        public static let noPendingCodeRequest = Code(.noPendingCodeRequest)
        /// The code entered is not the companion's: its key bundle does not open.
        public static let wrongCode = Code(.wrongCode)
        /// `companion_finish` is malformed or names another companion than the connection registered.
        public static let invalidCompanionFinish = Code(.invalidCompanionFinish)
        /// The companion answered pair-success with an error iq (e.g. `401 hmac-mismatch`); see ``detail``.
        public static let companionRejected = Code(.companionRejected)
        /// The companion's `pair-device-sign` reply is malformed or its device signature does not verify.
        public static let invalidPairDeviceSign = Code(.invalidPairDeviceSign)
        /// The connection closed before the step finished.
        public static let connectionGone = Code(.connectionGone)
        /// The companion did not answer in time.
        public static let timeout = Code(.timeout)
        /// Another phone action is already running on this connection.
        public static let busy = Code(.busy)
        /// The Noise handshake of a connection failed.
        public static let handshakeFailed = Code(.handshakeFailed)
        /// A connection sent something the server cannot accept (bad frame, bad payload).
        public static let protocolViolation = Code(.protocolViolation)

        public var description: String {
            switch value {
            case .invalidConfiguration: "invalid configuration"
            case .tlsSetupFailed: "TLS setup failed"
            case .bindFailed: "bind failed"
            case .notRunning: "simulator not running"
            case .alreadyStarted: "simulator already started"
            case .invalidQR: "invalid QR"
            case .noSuchConnection: "no such registration connection"
            case .qrMismatch: "QR does not match the connection"
            case .refExpired: "QR ref expired"
            case .invalidPhoneNumber: "invalid phone number"
            case .invalidCode: "invalid pairing code"
            case .noPendingCodeRequest: "no pending pairing-code request"
            case .wrongCode: "wrong pairing code"
            case .invalidCompanionFinish: "invalid companion_finish"
            case .companionRejected: "companion rejected pair-success"
            case .invalidPairDeviceSign: "invalid pair-device-sign"
            case .connectionGone: "connection gone"
            case .timeout: "timeout"
            case .busy: "connection busy"
            case .handshakeFailed: "handshake failed"
            case .protocolViolation: "protocol violation"
            }
        }

        /// A stable machine-readable name (used by the control API).
        public var name: String {
            switch value {
            case .invalidConfiguration: "invalid-configuration"
            case .tlsSetupFailed: "tls-setup-failed"
            case .bindFailed: "bind-failed"
            case .notRunning: "not-running"
            case .alreadyStarted: "already-started"
            case .invalidQR: "invalid-qr"
            case .noSuchConnection: "no-such-connection"
            case .qrMismatch: "qr-mismatch"
            case .refExpired: "ref-expired"
            case .invalidPhoneNumber: "invalid-phone-number"
            case .invalidCode: "invalid-code"
            case .noPendingCodeRequest: "no-pending-code-request"
            case .wrongCode: "wrong-code"
            case .invalidCompanionFinish: "invalid-companion-finish"
            case .companionRejected: "companion-rejected"
            case .invalidPairDeviceSign: "invalid-pair-device-sign"
            case .connectionGone: "connection-gone"
            case .timeout: "timeout"
            case .busy: "busy"
            case .handshakeFailed: "handshake-failed"
            case .protocolViolation: "protocol-violation"
            }
        }
    }

    public let code: Code
    /// Extra context that carries no secret, e.g. `"401 hmac-mismatch"` for ``Code/companionRejected``.
    public let detail: String?

    public init(_ code: Code, detail: String? = nil) {
        self.code = code
        self.detail = detail
    }

    public var description: String {
        if let detail { "SimulatorError: \(code) (\(detail))" } else { "SimulatorError: \(code)" }
    }
}
