/// Why ``LinkClient/requestPairingCode(phone:showPushNotification:)`` gave no code.
public struct LinkError: Error, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case rateLimited, featureNotAvailable, rejected, invalidResponse, timeout, alreadyPaired
            case numberConflict, sessionEnded, cancelled
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The server answered 429 `rate-overlimit` (too many attempts); see ``LinkError/retryAfter``.
        public static let rateLimited = Code(.rateLimited)
        /// The server answered 452 `feature-not-available`: this account must link by QR; retrying won't help.
        public static let featureNotAvailable = Code(.featureNotAvailable)
        /// The server refused with another error (400 `bad-request`, 403 `forbidden`, 500 ...); see
        /// ``LinkError/serverCode`` and ``LinkError/serverText``.
        public static let rejected = Code(.rejected)
        /// The server's answer lacked `link_code_pairing_ref`.
        public static let invalidResponse = Code(.invalidResponse)
        /// The registration connection was not ready, or the server did not answer, in time.
        public static let timeout = Code(.timeout)
        /// The device is already paired (or pairing is being completed); no code is needed.
        public static let alreadyPaired = Code(.alreadyPaired)
        /// A live code exists for another phone number on this session; only one code may be live.
        public static let numberConflict = Code(.numberConflict)
        /// The run has ended (terminal event, or not linking any more).
        public static let sessionEnded = Code(.sessionEnded)
        /// The request or the run was cancelled.
        public static let cancelled = Code(.cancelled)

        public var description: String {
            switch value {
            case .rateLimited: "rate limited"
            case .featureNotAvailable: "pairing code not available for this account"
            case .rejected: "rejected by server"
            case .invalidResponse: "invalid server response"
            case .timeout: "timeout"
            case .alreadyPaired: "already paired"
            case .numberConflict: "a code for another number is live"
            case .sessionEnded: "session ended"
            case .cancelled: "cancelled"
            }
        }
    }

    public let code: Code
    /// The iq `<error code>` (e.g. 400, 403, 429, 452, 500), when the server refused.
    public let serverCode: Int?
    /// The iq `<error text>` (e.g. `rate-overlimit`), when given.
    public let serverText: String?
    /// The server's `backoff` hint, when given: wait at least this long before asking again.
    public let retryAfter: Duration?

    public init(_ code: Code, serverCode: Int? = nil, serverText: String? = nil, retryAfter: Duration? = nil) {
        self.code = code
        self.serverCode = serverCode
        self.serverText = serverText
        self.retryAfter = retryAfter
    }

    /// Maps an iq `<error code text backoff>` of `companion_hello` (2026 addendum §C.4).
    init(iqErrorCode code: Int?, text: String?, backoffSeconds: Int?) {
        let retryAfter = backoffSeconds.map { Duration.seconds($0) }
        switch code {
        case 429: self.init(.rateLimited, serverCode: code, serverText: text, retryAfter: retryAfter)
        case 452: self.init(.featureNotAvailable, serverCode: code, serverText: text, retryAfter: retryAfter)
        default: self.init(.rejected, serverCode: code, serverText: text, retryAfter: retryAfter)
        }
    }

    public var description: String {
        var text = "LinkError: \(code)"
        if let serverCode { text += " \(serverCode)" }
        if let serverText { text += " \(serverText)" }
        if let retryAfter { text += " (retry after \(retryAfter))" }
        return text
    }
}
