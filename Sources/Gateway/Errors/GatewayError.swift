/// An error answer of the command API: a documented code, its HTTP-equivalent status, a message
/// for humans and machine-readable details. Travels as
/// `{"error":{"code":"...","message":"...","details":{...}}}` with header `status`.
///
/// Messages and details never contain tokens, QR strings, pairing codes or keys.
public struct GatewayError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public let status: Int

        private init(_ name: String, _ status: Int) {
            self.name = name
            self.status = status
        }

        /// 400: the request is malformed or not allowed in the session's state.
        public static let validationError = Code("validation_error", 400)
        /// 401: no, malformed, unverifiable, expired or revoked credentials.
        public static let unauthorized = Code("unauthorized", 401)
        /// 403: valid caller without the needed capability.
        public static let forbidden = Code("forbidden", 403)
        /// 404: no such session (or one of another organization), or nothing ready yet.
        public static let notFound = Code("not_found", 404)
        /// 409: the resource already exists.
        public static let conflict = Code("conflict", 409)
        /// 429: WhatsApp (or we) refused for now; retry after `details.retryAfter` seconds.
        public static let rateLimited = Code("rate_limited", 429)
        /// 500: something failed on our side; the message says what without internals.
        public static let internalError = Code("internal_error", 500)
        /// 501: unknown command.
        public static let notImplemented = Code("not_implemented", 501)
        /// 502: WhatsApp (the upstream) refused or failed.
        public static let upstreamError = Code("upstream_error", 502)
        /// 503: the worker cannot serve this now (shutting down, dependency down).
        public static let unavailable = Code("unavailable", 503)
        /// 504: WhatsApp (the upstream) did not answer in time.
        public static let upstreamTimeout = Code("upstream_timeout", 504)

        public var description: String { name }
    }

    public var code: Code
    public var message: String
    public var details: JSONObject

    public init(_ code: Code, _ message: String, details: JSONObject = [:]) {
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String { "\(code.status) \(code.name): \(message)" }

    /// The documented error body.
    public var body: JSONValue {
        ["error": ["code": .string(code.name), "message": .string(message), "details": .object(details)]]
    }

    // MARK: - Common errors

    public static func invalidField(_ field: String, _ reason: String, extra: JSONObject = [:]) -> GatewayError {
        var details: JSONObject = ["field": .string(field), "reason": .string(reason)]
        for (key, value) in extra { details[key] = value }
        return GatewayError(.validationError, "\(field): \(reason)", details: details)
    }
}
