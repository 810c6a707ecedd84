/// Why a store operation failed. Equality compares codes only; the message is for humans and never
/// contains keys, credentials, API keys or database URLs (which may carry passwords).
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case invalidConfiguration, unsupported, invalidArgument, notFound, conflict, invalidState
            case wrongKey, keyUnavailable, credentialsRejected, schemaTooNew, busy, database
            case closed, cancelled, leaseLost, unavailable
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// `WALINK_STORE`, `WALINK_STORE_KEY` or another setting could not be parsed.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The configuration names a store this build cannot open (for now: PostgreSQL).
        public static let unsupported = Code(.unsupported)
        /// An argument is malformed: session id, organization, name, limit, cursor, permission, ttl.
        public static let invalidArgument = Code(.invalidArgument)
        /// No such session or API key in this organization (another organization's looks the same).
        public static let notFound = Code(.notFound)
        /// A session with this id already exists in this organization.
        public static let conflict = Code(.conflict)
        /// The session's status does not allow the change (for example `setStatus` on a paired session).
        public static let invalidState = Code(.invalidState)
        /// The configured key is not the one the database's credentials were encrypted with.
        public static let wrongKey = Code(.wrongKey)
        /// No key could be read or created (missing or malformed key file, unwritable directory).
        public static let keyUnavailable = Code(.keyUnavailable)
        /// Stored credentials did not authenticate: altered, or moved from another session.
        public static let credentialsRejected = Code(.credentialsRejected)
        /// The database was migrated by a newer walink; this build will not touch it.
        public static let schemaTooNew = Code(.schemaTooNew)
        /// The database stayed locked by other workers for longer than the busy timeout.
        public static let busy = Code(.busy)
        /// The database (or the file system under it) failed.
        public static let database = Code(.database)
        /// The store was closed.
        public static let closed = Code(.closed)
        /// The calling task was cancelled before the operation ran; nothing was written.
        public static let cancelled = Code(.cancelled)
        /// A fenced write by a worker tenure that no longer owns the session (lease lapsed, session
        /// taken over, or a newer run of the worker registered): nothing was written.
        public static let leaseLost = Code(.leaseLost)
        /// The database could not be reached (or did not answer) in time; the call was abandoned.
        /// Whether a write it carried took effect is unknown: writes are safe to retry.
        public static let unavailable = Code(.unavailable)

        public var description: String {
            switch value {
            case .invalidConfiguration: "invalid_configuration"
            case .unsupported: "unsupported"
            case .invalidArgument: "invalid_argument"
            case .notFound: "not_found"
            case .conflict: "conflict"
            case .invalidState: "invalid_state"
            case .wrongKey: "wrong_key"
            case .keyUnavailable: "key_unavailable"
            case .credentialsRejected: "credentials_rejected"
            case .schemaTooNew: "schema_too_new"
            case .busy: "busy"
            case .database: "database"
            case .closed: "closed"
            case .cancelled: "cancelled"
            case .leaseLost: "lease_lost"
            case .unavailable: "unavailable"
            }
        }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String = "") {
        self.code = code
        self.message = message
    }

    public var description: String { message.isEmpty ? "store \(code)" : "store \(code): \(message)" }
}

extension StoreError: Equatable {
    public static func == (lhs: StoreError, rhs: StoreError) -> Bool { lhs.code == rhs.code }
}
